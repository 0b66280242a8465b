{#- A model-level invariant: the rows where `expression` does not hold
    fail the test (dbt_utils' test of the same name, written once here). -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
