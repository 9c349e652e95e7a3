$01a23e7c-aadd-770b-9038-ed516702ff94trace-2 Âäí·Á¸˜(2Þ
½
$0190a3c4-1d2e-7f00-8000-000000000002""tiers-payant quote*D-2025-00010:10101234567B/
L1OPTIQUE_LENTILLES"
2026-06-010 œ8Ò@<€B'
L2
ASTROLOGIE"
2025-03-100¸8¸@F€ZM000123CONFORT"
2026-07-01*req-1:tpgate