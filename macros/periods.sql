{#- Period boundaries used by several marts; written once here. -#}

{% macro month_start(date_expr) -%}
    date_trunc({{ date_expr }}, month)
{%- endmacro %}

{% macro iso_week_start(date_expr) -%}
    date_trunc({{ date_expr }}, isoweek)
{%- endmacro %}

{#- A rate in [0, 1] as FLOAT64; NULL when the denominator is 0. -#}
{% macro safe_rate(numerator, denominator) -%}
    safe_divide(cast({{ numerator }} as float64), nullif({{ denominator }}, 0))
{%- endmacro %}
