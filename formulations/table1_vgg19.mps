* Source:     Pyomo MPS Writer
* Format:     Free MPS
*
NAME harmonybatch_set_partitioning
OBJSENSE
 MIN
ROWS
 N  cost
 E  c_e_cover(0)_
 E  c_e_cover(1)_
 E  c_e_cover(2)_
COLUMNS
     x(0) cost 6.2122094597570738
     x(0) c_e_cover(0)_ 1
     x(1) cost 11.060975308216811
     x(1) c_e_cover(1)_ 1
     x(2) cost 12.545054945054948
     x(2) c_e_cover(2)_ 1
     x(3) cost 17.473469387755102
     x(3) c_e_cover(1)_ 1
     x(3) c_e_cover(2)_ 1
RHS
     RHS c_e_cover(0)_ 1
     RHS c_e_cover(1)_ 1
     RHS c_e_cover(2)_ 1
BOUNDS
 BV BOUND x(0)
 BV BOUND x(1)
 BV BOUND x(2)
 BV BOUND x(3)
ENDATA
