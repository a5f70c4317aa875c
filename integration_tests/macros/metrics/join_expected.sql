{#- The rows of an `expected` seed (person_id, expected, note) fully joined with an `actual` CTE (person_id,
    actual) on person_id: a person missing from either side gets a NULL on that side and fails the
    actual_matches_expected test. -#}
{% macro join_expected(actual, expected) %}
select
    coalesce(_expected.person_id, _actual.person_id) as person_id,
    _expected.expected,
    _actual.actual,
    _expected.note
from {{ expected }} as _expected
full outer join {{ actual }} as _actual on _actual.person_id = _expected.person_id
{% endmacro %}
