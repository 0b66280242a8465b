-- The as-of date is one value: a second row would duplicate every order
-- that int_orders crosses with it.
select count(*) as rows_found
from {{ ref('int_as_of') }}
having count(*) != 1
