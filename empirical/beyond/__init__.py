"""Beyond the paper: its Sec. 3.3-3.5 arguments about lottery tickets, flat minima and pruning,
turned into measurements in the teacher-student setting (``luckbench beyond``).

* :mod:`.nodes`   - hidden-node bookkeeping: fan-in / fan-out norms, node sub-networks, node removal,
  overlaps of node sets and their chance values;
* :mod:`.runs`    - the shared configuration of a trained student and its training / evaluation;
* :mod:`.hessian` - Hessian-vector products, Lanczos top eigenvalues, flat-direction counts;
* :mod:`.stored`  - long_name / units on every stored variable and coordinate;
* :mod:`.lottery`, :mod:`.flat`, :mod:`.prune` - the three experiments (``result_kind``
  ``beyond-lottery``, ``beyond-hessian``, ``beyond-prune``).
"""
