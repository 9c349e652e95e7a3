
tp-gatewayINV-77"
MUT0009999(8BU
L42203240OPTIQUE_EQUIPEMENT"
2025-04-01(0Èß8	@<b100PSh¸rcomplexrsimplex˜uJQ-1