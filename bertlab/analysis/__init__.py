"""Analysis helpers: parameter counts, attention maps, offline bertviz views."""

from bertlab.analysis.params import ParameterCount, count_parameters, embedding_formula, format_count

__all__ = ["ParameterCount", "count_parameters", "embedding_formula", "format_count"]
