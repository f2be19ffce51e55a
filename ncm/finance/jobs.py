"""arq jobs of the finance domain (registered with ``ncm.kit.jobs.job``)."""
