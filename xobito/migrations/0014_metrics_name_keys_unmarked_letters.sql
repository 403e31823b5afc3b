-- A name's search key spells ø, đ, ł, ð, ı, ħ, ŧ, æ, œ and þ as the
-- letters people type for them (services/metrics/search.py, name_key);
-- keys stored before are brought in line.
UPDATE metrics.recipients
SET name_key = replace(replace(replace(
        translate(name_key, 'øđłðıħŧ', 'odldiht'),
        'æ', 'ae'), 'œ', 'oe'), 'þ', 'th')
WHERE name_key ~ '[øđłðıħŧæœþ]';
