select
    restaurant_id,
    restaurant_name,
    city,
    cuisine
from {{ ref('restaurants') }}
