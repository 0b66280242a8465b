{#- A column of an order's one winning event of `event_type`, inside a
    `group by order_id` over int_order_events (which keeps one event per
    order and type, so the aggregate sees a single candidate). BOOL columns
    take `logical_or`, since MAX over BOOL is not portable across warehouses. -#}
{% macro event_value(event_type, column, aggregate='max') -%}
    {{ aggregate }}(case when event_type = '{{ event_type }}' then {{ column }} end)
{%- endmacro %}
