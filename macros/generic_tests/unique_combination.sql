{#- The combination of the given columns is unique (a composite primary key). -#}
{% test unique_combination(model, combination) %}

select
    {{ combination | join(', ') }},
    count(*) as copies
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
