"""arq jobs of the promotion domain (registered with ``ncm.kit.jobs.job``)."""
