$01a23e85-d62c-7ca8-81e3-5775c0dbebc2trace-2 Ù∏≤÷√∏ò(2ﬁ
Ω
$0190a3c4-1d2e-7f00-8000-000000000002""tiers-payant quote*D-2025-00010:10101234567B/
L1OPTIQUE_LENTILLES"
2026-06-010†ú8“@<ÄB'
L2
ASTROLOGIE"
2025-03-100∏8∏@FÄZM000123CONFORT"
2026-07-01*req-1:tpgate