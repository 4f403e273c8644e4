"""Parameter counts by component: the counting lives in ``bertlab.model.params`` (the distillation pipeline
reports the student's size with it); re-exported here beside the other analyses."""

from bertlab.model.params import (COMPONENTS, ParameterCount, component_of, count_parameters, embedding_formula,
                                  format_count)

__all__ = ["COMPONENTS", "ParameterCount", "component_of", "count_parameters", "embedding_formula", "format_count"]
