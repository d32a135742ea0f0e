"""Laboratory (LIMS): specifications, sampling and samples, reagents and instruments, tests and results.

SH-6.2.3, TJ-7 (quality control), TJ-B.2.4 (laboratory data sets). Modules by concern::

    specs_models / specs / specs_schemas / specs_api / specs_views       specifications and judgement
    judgement                                                             pure: limits, rounding, pass/fail
    sample_models / sampling / samples / sample_schemas / sample_api / sample_views   plans, samples
    reagent_models / reagents / reagent_schemas / reagent_api / reagent_views / instruments
"""
