"""Identity and access control (SH-7.1.2, TJ-10.1.2): users, roles, permissions, segregation of duties."""
