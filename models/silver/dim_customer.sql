-- One row per customer: every row of the customers table (its latest
-- version) and every customer_id that placed an order, known to the table
-- or not yet (contract §1.2: events may name customers the table lacks).
with ordering as (
    select distinct customer_id from {{ ref('fact_order') }}
)

select
    coalesce(customers.customer_id, ordering.customer_id) as customer_id,
    customers.signup_ts,
    customers.age,
    customers.gender,
    customers.marital_status,
    customers.occupation,
    customers.monthly_income,
    customers.education,
    customers.family_size,
    customers.latitude,
    customers.longitude,
    customers.pin_code,
    customers.city,
    customers.customer_id is not null as in_customers_table
from {{ ref('brz_customers') }} as customers
full outer join ordering on ordering.customer_id = customers.customer_id
