"""arq jobs of the incidents domain (registered with ``ncm.kit.jobs.job``)."""
