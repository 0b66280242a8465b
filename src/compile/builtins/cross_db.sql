{#- dbt's cross-database macros. Each dispatches, so a project or an
    adapter-specific `<adapter>__name` macro can replace it. -#}
{% macro safe_cast(field, type) %}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{% endmacro %}
{% macro default__safe_cast(field, type) %}try_cast({{ field }} as {{ type }}){% endmacro %}
{% macro bigquery__safe_cast(field, type) %}safe_cast({{ field }} as {{ type }}){% endmacro %}

{% macro type_string() %}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{% endmacro %}
{% macro default__type_string() %}varchar{% endmacro %}
{% macro bigquery__type_string() %}string{% endmacro %}
{% macro type_int() %}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{% endmacro %}
{% macro default__type_int() %}int{% endmacro %}
{% macro bigquery__type_int() %}int64{% endmacro %}
{% macro type_bigint() %}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{% endmacro %}
{% macro default__type_bigint() %}bigint{% endmacro %}
{% macro bigquery__type_bigint() %}int64{% endmacro %}
{% macro type_float() %}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{% endmacro %}
{% macro default__type_float() %}double{% endmacro %}
{% macro bigquery__type_float() %}float64{% endmacro %}
{% macro type_numeric() %}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{% endmacro %}
{% macro default__type_numeric() %}numeric(28, 6){% endmacro %}
{% macro bigquery__type_numeric() %}numeric{% endmacro %}
{% macro type_boolean() %}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{% endmacro %}
{% macro default__type_boolean() %}boolean{% endmacro %}
{% macro bigquery__type_boolean() %}bool{% endmacro %}
{% macro type_timestamp() %}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{% endmacro %}
{% macro default__type_timestamp() %}timestamp{% endmacro %}

{% macro date_trunc(datepart, date) %}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{% endmacro %}
{% macro default__date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}
{% macro bigquery__date_trunc(datepart, date) %}timestamp_trunc(cast({{ date }} as timestamp), {{ datepart }}){% endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) %}{{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}{% endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) %}({{ from_date_or_timestamp }} + interval '{{ interval }} {{ datepart }}'){% endmacro %}
{% macro bigquery__dateadd(datepart, interval, from_date_or_timestamp) %}datetime_add(cast({{ from_date_or_timestamp }} as datetime), interval {{ interval }} {{ datepart }}){% endmacro %}

{% macro datediff(first_date, second_date, datepart) %}{{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}{% endmacro %}
{% macro default__datediff(first_date, second_date, datepart) %}date_diff('{{ datepart }}', {{ first_date }}, {{ second_date }}){% endmacro %}
{% macro bigquery__datediff(first_date, second_date, datepart) %}datetime_diff(cast({{ second_date }} as datetime), cast({{ first_date }} as datetime), {{ datepart }}){% endmacro %}

{% macro concat(fields) %}{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}{% endmacro %}
{% macro default__concat(fields) %}concat({{ fields | join(', ') }}){% endmacro %}

{% macro hash(field) %}{{ return(adapter.dispatch('hash', 'dbt')(field)) }}{% endmacro %}
{% macro default__hash(field) %}md5(cast({{ field }} as {{ api_type_string() }})){% endmacro %}
{% macro bigquery__hash(field) %}to_hex(md5(cast({{ field }} as string))){% endmacro %}
{% macro api_type_string() %}{{ return(dbt.type_string()) }}{% endmacro %}

{% macro current_timestamp() %}{{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}{% endmacro %}
{% macro default__current_timestamp() %}current_timestamp(){% endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) %}{{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}{% endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) %}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }}){% endmacro %}
{% macro bigquery__split_part(string_text, delimiter_text, part_number) %}split({{ string_text }}, {{ delimiter_text }})[safe_offset({{ part_number - 1 if part_number > 0 else part_number }})]{% endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) %}{{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}{% endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) %}string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}){% endmacro %}

{% macro any_value(expression) %}{{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}{% endmacro %}
{% macro default__any_value(expression) %}any_value({{ expression }}){% endmacro %}

{% macro bool_or(expression) %}{{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}{% endmacro %}
{% macro default__bool_or(expression) %}bool_or({{ expression }}){% endmacro %}
{% macro bigquery__bool_or(expression) %}logical_or({{ expression }}){% endmacro %}

{% macro cast_bool_to_text(field) %}{{ return(adapter.dispatch('cast_bool_to_text', 'dbt')(field)) }}{% endmacro %}
{% macro default__cast_bool_to_text(field) %}cast({{ field }} as {{ api_type_string() }}){% endmacro %}

{% macro escape_single_quotes(expression) %}{{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}{% endmacro %}
{% macro default__escape_single_quotes(expression) %}{{ expression | replace("'", "''") }}{% endmacro %}
{% macro bigquery__escape_single_quotes(expression) %}{{ expression | replace("'", "\\'") }}{% endmacro %}

{% macro string_literal(value) %}{{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}{% endmacro %}
{% macro default__string_literal(value) %}'{{ value | replace("'", "''") }}'{% endmacro %}
{% macro bigquery__string_literal(value) %}'{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'{% endmacro %}

{% macro length(expression) %}{{ return(adapter.dispatch('length', 'dbt')(expression)) }}{% endmacro %}
{% macro default__length(expression) %}length({{ expression }}){% endmacro %}

{% macro replace(field, old_chars, new_chars) %}{{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}{% endmacro %}
{% macro default__replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro %}

{% macro right(string_text, length_expression) %}{{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}{% endmacro %}
{% macro default__right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro %}

{% macro position(substring_text, string_text) %}{{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}{% endmacro %}
{% macro default__position(substring_text, string_text) %}strpos({{ string_text }}, {{ substring_text }}){% endmacro %}

{% macro last_day(date, datepart) %}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{% endmacro %}
{% macro default__last_day(date, datepart) %}cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date){% endmacro %}
{% macro bigquery__last_day(date, datepart) %}last_day(cast({{ date }} as date), {{ datepart }}){% endmacro %}

{% macro except() %}{{ return(adapter.dispatch('except', 'dbt')()) }}{% endmacro %}
{% macro default__except() %}except distinct{% endmacro %}
{% macro intersect() %}{{ return(adapter.dispatch('intersect', 'dbt')()) }}{% endmacro %}
{% macro default__intersect() %}intersect distinct{% endmacro %}

{% macro array_construct(inputs=[], data_type=api_type_string()) %}{{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}{% endmacro %}
{% macro default__array_construct(inputs, data_type) %}array[{{ inputs | join(', ') }}]{% endmacro %}
{% macro bigquery__array_construct(inputs, data_type) %}[{{ inputs | join(', ') }}]{% endmacro %}

{#- DataFusion has no date_diff; count boundaries crossed, as dbt's datediff does. -#}
{% macro datafusion__datediff(first_date, second_date, datepart) -%}
    {%- set p = datepart | lower | trim -%}
    {%- set a = "cast(" ~ first_date ~ " as timestamp)" -%}
    {%- set b = "cast(" ~ second_date ~ " as timestamp)" -%}
    {%- if p == 'year' -%}
        cast(date_part('year', {{ b }}) - date_part('year', {{ a }}) as bigint)
    {%- elif p == 'quarter' -%}
        cast((date_part('year', {{ b }}) * 4 + date_part('quarter', {{ b }})) - (date_part('year', {{ a }}) * 4 + date_part('quarter', {{ a }})) as bigint)
    {%- elif p == 'month' -%}
        cast((date_part('year', {{ b }}) * 12 + date_part('month', {{ b }})) - (date_part('year', {{ a }}) * 12 + date_part('month', {{ a }})) as bigint)
    {%- else -%}
        {%- set seconds = {'week': 604800, 'day': 86400, 'hour': 3600, 'minute': 60, 'second': 1}[p] -%}
        cast((extract(epoch from date_trunc('{{ p }}', {{ b }})) - extract(epoch from date_trunc('{{ p }}', {{ a }}))) / {{ seconds }} as bigint)
    {%- endif -%}
{%- endmacro %}
