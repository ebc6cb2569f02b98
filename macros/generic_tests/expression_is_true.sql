{#- Every row satisfies the expression (rows that do not are returned as failures). -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
