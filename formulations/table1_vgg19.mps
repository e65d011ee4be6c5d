* Source:     Pyomo MPS Writer
* Format:     Free MPS
*
NAME harmonybatch_set_partitioning
ROWS
 N  cost
 E  c_e_cover(app0)_
 E  c_e_cover(app1)_
 E  c_e_cover(app2)_
COLUMNS
     x(app0__cpu_1_55vcpu_b1_) cost 6.2122094597570738
     x(app0__cpu_1_55vcpu_b1_) c_e_cover(app0)_ 1
     x(app1__cpu_1_5vcpu_b2_) cost 11.060975308216811
     x(app1__cpu_1_5vcpu_b2_) c_e_cover(app1)_ 1
     x(app1_app2__gpu_2gb_b14_) cost 17.473469387755102
     x(app1_app2__gpu_2gb_b14_) c_e_cover(app1)_ 1
     x(app1_app2__gpu_2gb_b14_) c_e_cover(app2)_ 1
     x(app2__gpu_2gb_b13_) cost 12.545054945054948
     x(app2__gpu_2gb_b13_) c_e_cover(app2)_ 1
RHS
     RHS c_e_cover(app0)_ 1
     RHS c_e_cover(app1)_ 1
     RHS c_e_cover(app2)_ 1
BOUNDS
 BV BOUND x(app0__cpu_1_55vcpu_b1_)
 BV BOUND x(app1__cpu_1_5vcpu_b2_)
 BV BOUND x(app1_app2__gpu_2gb_b14_)
 BV BOUND x(app2__gpu_2gb_b13_)
ENDATA
