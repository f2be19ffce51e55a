"""arq jobs of the compensation domain (registered with ``ncm.kit.jobs.job``)."""
