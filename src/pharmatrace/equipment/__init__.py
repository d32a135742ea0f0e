"""Equipment, scales and rooms (SH-6.3.2, TJ-6.1, TJ-B.2.1, TJ-B.2.2.2): the register, status with validity,
logbooks, and the usability service the MES asks before a step."""
