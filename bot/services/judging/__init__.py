"""Judging: the judges' panel, the one factory that builds it, and its verdicts' delivery."""
