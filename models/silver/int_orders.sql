{{ config(materialized='view') }}
-- The orders every mart counts: order date on or before the as-of date,
-- with their month, ISO week and whether they completed (not cancelled).
select
    fact_order.*,
    not fact_order.is_cancelled as is_completed,
    {{ month_start('fact_order.order_date') }} as month,
    {{ iso_week_start('fact_order.order_date') }} as week_start,
    as_of.as_of_date
from {{ ref('fact_order') }} as fact_order
cross join {{ ref('int_as_of') }} as as_of
where fact_order.order_date <= as_of.as_of_date
