-- Earlier nights' items of tonight's pseudonyms (the same within the epoch), with tonight's pid.
SELECT p.pid, i.day, {% for c in columns %}i.{{ c | ident }}{{ ", " if not loop.last }}{% endfor %}

FROM past_items i JOIN people p ON p.{{ person | ident }} = i.pseudonym
ORDER BY ALL;
