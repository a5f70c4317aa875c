{#- Generic test: one failing row for each row of the model whose `actual` differs from `expected`, NULLs
    included (NULL against NULL matches, NULL against a value does not). Written here rather than taken
    from dbt-utils so that the project needs nothing from dbt Hub. -#}
{% test actual_matches_expected(model, actual='actual', expected='expected') %}

select *
from {{ model }}
where {{ actual }} <> {{ expected }}
    or ({{ actual }} is null and {{ expected }} is not null)
    or ({{ actual }} is not null and {{ expected }} is null)

{% endtest %}
