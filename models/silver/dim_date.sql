-- One row per day from the first order date to the as-of date.
select
    day as date_day,
    {{ month_start('day') }} as month,
    {{ iso_week_start('day') }} as week_start,
    extract(year from day) as year,
    extract(quarter from day) as quarter,
    extract(isoweek from day) as iso_week,
    format_date('%A', day) as day_name
from unnest(generate_date_array(
    (select min(order_date) from {{ ref('fact_order') }}),
    (select as_of_date from {{ ref('int_as_of') }})
)) as day
