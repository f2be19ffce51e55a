"""Revenue recognition, ARPPU/ARPU/MRR, closed months, reconciliation and the listening mix."""
