{{ config(materialized='view') }}
-- The as-of date of every mart (contract §2): the variable `as_of_date` when
-- set, else the latest order date of any order, completed or cancelled.
select
    {% if var('as_of_date', none) %}
    date '{{ var("as_of_date") }}'
    {% else %}
    max(order_date)
    {% endif %} as as_of_date
from {{ ref('fact_order') }}
