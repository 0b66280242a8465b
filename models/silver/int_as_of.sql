{{ config(materialized='view') }}
-- The as-of date of every mart (contract §2): the variable `as_of_date` when
-- set, else the latest order date of any order, completed or cancelled.
-- Always one row.
select
    {% if var('as_of_date', none) %}
    date '{{ var("as_of_date") }}'
    {% else %}
    latest_order_date
    {% endif %} as as_of_date
from (select max(order_date) as latest_order_date from {{ ref('fact_order') }})
