{#- Country names for normalize_country: one line per ISO-3166-1 country, "alpha-2 alpha-3 name; name; ...",
    names in lower case without accents (the look-up drops accents, case, spaces and punctuation, so
    "cote d'ivoire" also matches "Côte d’Ivoire" and "COTE-D-IVOIRE").

    Built from the ISO 3166-1 list (English short, common and official names, and their French
    translations, as published by Debian's iso-codes project), then extended by hand with local names of
    European countries (deutschland, espana, belgie, schweiz, nederland, ...), common variants (uk, usa,
    holland, ivory coast, ...) and the United Kingdom's nations (england, scotland, wales -> GB).
    A key must belong to one country only: tests/test_dbt_macros.py checks it. -#}
{% macro _country_aliases() -%}
{%- set aliases -%}
AD AND andorra; principality of andorra; andorre; principaute d'andorre
AE ARE united arab emirates; emirats arabes unis
AF AFG afghanistan; islamic republic of afghanistan; republique islamique d'afghanistan
AG ATG antigua and barbuda; antigua-et-barbuda
AI AIA anguilla
AL ALB albania; republic of albania; albanie; republique d'albanie
AM ARM armenia; republic of armenia; armenie; republique d'armenie
AO AGO angola; republic of angola; republique d'angola
AQ ATA antarctica; antarctique
AR ARG argentina; argentine republic; argentine; republique d'argentine
AS ASM american samoa; samoa americaines
AT AUT austria; republic of austria; autriche; republique d'autriche; osterreich; oesterreich
AU AUS australia; australie
AW ABW aruba
AX ALA aland islands; aland iles
AZ AZE azerbaijan; republic of azerbaijan; azerbaidjan; republique d'azerbaidjan
BA BIH bosnia and herzegovina; republic of bosnia and herzegovina; bosnie-herzegovine; republique de bosnie et herzegovine
BB BRB barbados; barbade
BD BGD bangladesh; people's republic of bangladesh; republique populaire du bengladesh
BE BEL belgium; kingdom of belgium; belgique; royaume de belgique; belgie; belgien; belgio; belgica
BF BFA burkina faso
BG BGR bulgaria; republic of bulgaria; bulgarie; republique de bulgarie; balgariya
BH BHR bahrain; kingdom of bahrain; bahrein; royaume de bahrein
BI BDI burundi; republic of burundi; republique du burundi
BJ BEN benin; republic of benin; republique du benin
BL BLM saint barthelemy
BM BMU bermuda; bermudes
BN BRN brunei darussalam
BO BOL bolivia plurinational state of; bolivia; plurinational state of bolivia; bolivie etat plurinational de; bolivie; etat plurinational de bolivie
BQ BES bonaire sint eustatius and saba; bonaire saint-eustache et saba
BR BRA brazil; federative republic of brazil; bresil; republique federale du bresil
BS BHS bahamas; commonwealth of the bahamas; commonwealth des bahamas
BT BTN bhutan; kingdom of bhutan; bhoutan; royaume du bouthan
BV BVT bouvet island; ile bouvet
BW BWA botswana; republic of botswana; republique du botswana
BY BLR belarus; republic of belarus; republique du belarus
BZ BLZ belize
CA CAN canada; kanada
CC CCK cocos keeling islands; cocos keeling iles
CD COD congo the democratic republic of the; republique democratique du congo; dr congo; drc; rdc; congo kinshasa
CF CAF central african republic; republique centrafricaine
CG COG congo; republic of the congo; republique du congo; congo brazzaville
CH CHE switzerland; swiss confederation; suisse; confederation helvetique; schweiz; svizzera; svizra; confederation suisse; helvetia
CI CIV cote d'ivoire; republic of cote d'ivoire; republique de cote d'ivoire; ivory coast
CK COK cook islands; iles cook
CL CHL chile; republic of chile; chili; republique du chili
CM CMR cameroon; republic of cameroon; cameroun; republique du cameroun
CN CHN china; people's republic of china; chine; republique populaire de chine
CO COL colombia; republic of colombia; colombie; republique de colombie
CR CRI costa rica; republic of costa rica; republique du costa rica
CU CUB cuba; republic of cuba; republique de cuba
CV CPV cabo verde; republic of cabo verde; cap-vert; republique du cap-vert; cape verde
CW CUW curacao
CX CXR christmas island; christmas ile
CY CYP cyprus; republic of cyprus; chypre; republique de chypre; kypros; kibris
CZ CZE czechia; czech republic; tchequie; republique tcheque; cesko; ceska republika
DE DEU germany; federal republic of germany; allemagne; republique federale d'allemagne; deutschland; germania; alemania; bundesrepublik deutschland; west germany
DJ DJI djibouti; republic of djibouti; republique de djibouti
DK DNK denmark; kingdom of denmark; danemark; royaume du danemark; danmark
DM DMA dominica; commonwealth of dominica; dominique; commonwealth de la dominique
DO DOM dominican republic; republique dominicaine
DZ DZA algeria; people's democratic republic of algeria; algerie; republique algerienne democratique et populaire; al jazair; algerien; argelia
EC ECU ecuador; republic of ecuador; equateur; republique d'equateur
EE EST estonia; republic of estonia; estonie; republique d'estonie; eesti
EG EGY egypt; arab republic of egypt; egypte; republique arabe d'egypte
EH ESH western sahara; sahara occidental
ER ERI eritrea; the state of eritrea; erythree; l'etat d'erythree
ES ESP spain; kingdom of spain; espagne; royaume d'espagne; espana; spagna; espanya
ET ETH ethiopia; federal democratic republic of ethiopia; ethiopie; republique federale democratique d'ethiopie
FI FIN finland; republic of finland; finlande; republique de finlande; suomi
FJ FJI fiji; republic of fiji; fidji; republique des fidji
FK FLK falkland islands malvinas; malouines iles falkland
FM FSM micronesia federated states of; federated states of micronesia; micronesie etats federes de; etats federes de micronesie
FO FRO faroe islands; iles feroe
FR FRA france; french republic; republique francaise; francia; frankreich
GA GAB gabon; gabonese republic; republique gabonaise
GB GBR united kingdom; united kingdom of great britain and northern ireland; royaume-uni; royaume-uni de grande-bretagne et d'irlande du nord; uk; great britain; britain; grande bretagne; angleterre; england; scotland; ecosse; wales; pays de galles; northern ireland; irlande du nord
GD GRD grenada; grenade
GE GEO georgia; georgie
GF GUF french guiana; guyane francaise
GG GGY guernsey; guernesey
GH GHA ghana; republic of ghana; republique du ghana
GI GIB gibraltar
GL GRL greenland; groenland
GM GMB gambia; republic of the gambia; gambie; republique de gambie
GN GIN guinea; republic of guinea; guinee; republique de guinee
GP GLP guadeloupe
GQ GNQ equatorial guinea; republic of equatorial guinea; guinee equatoriale; republique de guinee equatoriale
GR GRC greece; hellenic republic; grece; republique grecque; el; hellas; ellada; griechenland
GS SGS south georgia and the south sandwich islands; georgie du sud et les iles sandwich du sud
GT GTM guatemala; republic of guatemala; republique du guatemala
GU GUM guam
GW GNB guinea-bissau; republic of guinea-bissau; guinee-bissau; republique de guinee-bissau
GY GUY guyana; republic of guyana; republique de guyana
HK HKG hong kong; hong kong special administrative region of china; region speciale administrative chinoise de hong-kong
HM HMD heard island and mcdonald islands; iles heard-et-macdonald
HN HND honduras; republic of honduras; republique du honduras
HR HRV croatia; republic of croatia; croatie; republique de croatie; hrvatska
HT HTI haiti; republic of haiti; republique de haiti
HU HUN hungary; hongrie; magyarorszag
ID IDN indonesia; republic of indonesia; indonesie; republique d'indonesie
IE IRL ireland; irlande; eire; republic of ireland
IL ISR israel; state of israel; etat d'israel
IM IMN isle of man; ile de man
IN IND india; republic of india; inde; republique d'inde
IO IOT british indian ocean territory; territoire britannique de l'ocean indien
IQ IRQ iraq; republic of iraq; irak; republique d'iraq
IR IRN iran islamic republic of; iran; islamic republic of iran; iran republique islamique d'; republique islamique d'iran
IS ISL iceland; republic of iceland; islande; republique d'islande; island
IT ITA italy; italian republic; italie; republique italienne; italia; italien
JE JEY jersey
JM JAM jamaica; jamaique
JO JOR jordan; hashemite kingdom of jordan; jordanie; royaume hachemite de jordanie
JP JPN japan; japon
KE KEN kenya; republic of kenya; republique du kenya
KG KGZ kyrgyzstan; kyrgyz republic; kirghizistan; republique kirghize
KH KHM cambodia; kingdom of cambodia; cambodge; royaume du cambodge
KI KIR kiribati; republic of kiribati; republique de kiribati
KM COM comoros; union of the comoros; comores; union des comores
KN KNA saint kitts and nevis; saint-christophe-et-nieves
KP PRK korea democratic people's republic of; north korea; democratic people's republic of korea; coree republique populaire democratique de; coree du nord; republique democratique populaire de coree
KR KOR korea republic of; south korea; coree republique de; coree du sud; korea
KW KWT kuwait; state of kuwait; koweit; etat du koweit
KY CYM cayman islands; iles caimans
KZ KAZ kazakhstan; republic of kazakhstan; republique du kazakhstan
LA LAO lao people's democratic republic; laos; lao republique democratique populaire
LB LBN lebanon; lebanese republic; liban; republique libanaise
LC LCA saint lucia; sainte-lucie
LI LIE liechtenstein; principality of liechtenstein; principaute du liechtenstein
LK LKA sri lanka; democratic socialist republic of sri lanka; republique democratique socialiste de sri lanka
LR LBR liberia; republic of liberia; republique du liberia
LS LSO lesotho; kingdom of lesotho; royaume du lesotho
LT LTU lithuania; republic of lithuania; lituanie; republique de lituanie; lietuva
LU LUX luxembourg; grand duchy of luxembourg; grand-duche du luxembourg; luxemburg; letzebuerg; grand duche de luxembourg
LV LVA latvia; republic of latvia; lettonie; republique de lettonie; latvija
LY LBY libya; libye
MA MAR morocco; kingdom of morocco; maroc; royaume du maroc; al maghrib; marruecos; marokko
MC MCO monaco; principality of monaco; principaute de monaco
MD MDA moldova republic of; moldova; republic of moldova; moldova republique de; moldavie; republique de moldova
ME MNE montenegro
MF MAF saint martin french part; saint-martin partie francaise
MG MDG madagascar; republic of madagascar; republique de madagascar
MH MHL marshall islands; republic of the marshall islands; iles marshall; republique des iles marshall
MK MKD north macedonia; republic of north macedonia; macedoine du nord; republique de macedoine du nord; macedonia; macedoine
ML MLI mali; republic of mali; republique du mali
MM MMR myanmar; republic of myanmar; birmanie; republique de myanmar; burma
MN MNG mongolia; mongolie
MO MAC macao; macao special administrative region of china; macau; region speciale administrative chinoise de macao
MP MNP northern mariana islands; commonwealth of the northern mariana islands; iles mariannes du nord; commonwealth des iles mariannes du nord
MQ MTQ martinique
MR MRT mauritania; islamic republic of mauritania; mauritanie; republique islamique de mauritanie
MS MSR montserrat
MT MLT malta; republic of malta; malte; republique de malte
MU MUS mauritius; republic of mauritius; maurice; republique de l'ile maurice
MV MDV maldives; republic of maldives; republique des maldives
MW MWI malawi; republic of malawi; republique du malawi
MX MEX mexico; united mexican states; mexique; etats-unis du mexique
MY MYS malaysia; malaisie
MZ MOZ mozambique; republic of mozambique; republique du mozambique
NA NAM namibia; republic of namibia; namibie; republique de namibie
NC NCL new caledonia; nouvelle-caledonie
NE NER niger; republic of the niger; republique du niger
NF NFK norfolk island; ile norfolk
NG NGA nigeria; federal republic of nigeria; republique federale du nigeria
NI NIC nicaragua; republic of nicaragua; republique du nicaragua
NL NLD netherlands; kingdom of the netherlands; pays-bas; royaume des pays-bas; nederland; holland; hollande; the netherlands; niederlande; paesi bassi; paises bajos
NO NOR norway; kingdom of norway; norvege; royaume de norvege; norge; noreg
NP NPL nepal; federal democratic republic of nepal; republique federale democratique du nepal
NR NRU nauru; republic of nauru; republique de nauru
NU NIU niue; nioue
NZ NZL new zealand; nouvelle-zelande
OM OMN oman; sultanate of oman; sultanat d'oman
PA PAN panama; republic of panama; republique du panama
PE PER peru; republic of peru; perou; republique du perou
PF PYF french polynesia; polynesie francaise
PG PNG papua new guinea; independent state of papua new guinea; papouasie-nouvelle-guinee; etat independant de papouasie-nouvelle-guinee
PH PHL philippines; republic of the philippines; republique des philippines
PK PAK pakistan; islamic republic of pakistan; republique islamique du pakistan
PL POL poland; republic of poland; pologne; republique de pologne; polska; polen
PM SPM saint pierre and miquelon; saint-pierre-et-miquelon
PN PCN pitcairn; iles pitcairn
PR PRI puerto rico; porto rico
PS PSE palestine state of; the state of palestine; palestine etat de; l'etat de palestine; palestine
PT PRT portugal; portuguese republic; republique portugaise
PW PLW palau; republic of palau; palaos; republique de palau
PY PRY paraguay; republic of paraguay; republique du paraguay
QA QAT qatar; state of qatar; etat du qatar
RE REU reunion; reunion ile de la; la reunion; ile de la reunion
RO ROU romania; roumanie
RS SRB serbia; republic of serbia; serbie; republique de serbie
RU RUS russian federation; russie federation de; russia; russie
RW RWA rwanda; rwandese republic; republique rwandaise
SA SAU saudi arabia; kingdom of saudi arabia; arabie saoudite; royaume d'arabie saoudite
SB SLB solomon islands; salomon iles
SC SYC seychelles; republic of seychelles; republique des seychelles
SD SDN sudan; republic of the sudan; soudan; republique du soudan
SE SWE sweden; kingdom of sweden; suede; royaume de suede; sverige; schweden
SG SGP singapore; republic of singapore; singapour; republique de singapour
SH SHN saint helena ascension and tristan da cunha; sainte-helene ascension et tristan da cunha
SI SVN slovenia; republic of slovenia; slovenie; republique de slovenie; slovenija
SJ SJM svalbard and jan mayen; svalbard et ile jan mayen
SK SVK slovakia; slovak republic; slovaquie; republique slovaque; slovensko
SL SLE sierra leone; republic of sierra leone; republique de sierra leone
SM SMR san marino; republic of san marino; saint-marin; republique de san marin
SN SEN senegal; republic of senegal; republique du senegal
SO SOM somalia; federal republic of somalia; somalie; republique federale de somalie
SR SUR suriname; republic of suriname; surinam; republique du surinam
SS SSD south sudan; republic of south sudan; soudan du sud; republique du soudan du sud
ST STP sao tome and principe; democratic republic of sao tome and principe; sao tome-et-principe; republique democratique de sao tome et principe
SV SLV el salvador; republic of el salvador; salvador; republique d'el salvador
SX SXM sint maarten dutch part; saint-martin partie neerlandaise
SY SYR syrian arab republic; syria; syrienne republique arabe; syrie
SZ SWZ eswatini; kingdom of eswatini; royaume d eswatini; swaziland
TC TCA turks and caicos islands; iles turques-et-caiques
TD TCD chad; republic of chad; tchad; republique du tchad
TF ATF french southern territories; terres australes francaises
TG TGO togo; togolese republic; republique togolaise
TH THA thailand; kingdom of thailand; thailande; royaume de thailande
TJ TJK tajikistan; republic of tajikistan; tadjikistan; republique du tadjikistan
TK TKL tokelau
TL TLS timor-leste; democratic republic of timor-leste; timor oriental; republique democratique du timor-leste; east timor
TM TKM turkmenistan
TN TUN tunisia; republic of tunisia; tunisie; republique de tunisieien; tunez
TO TON tonga; kingdom of tonga; royaume des tonga
TR TUR turkiye; republic of turkiye; turquie; republique de turquie; turkey
TT TTO trinidad and tobago; republic of trinidad and tobago; trinite-et-tobago; republique de trinite et tobago
TV TUV tuvalu
TW TWN taiwan province of china; taiwan; taiwan province de chine
TZ TZA tanzania united republic of; tanzania; united republic of tanzania; tanzanie republique unie de; tanzanie; republique unie de tanzanie
UA UKR ukraine
UG UGA uganda; republic of uganda; ouganda; republique d'ouganda
UM UMI united states minor outlying islands; iles mineures eloignees des etats-unis
US USA united states; united states of america; etats-unis; etats-unis d'amerique; america; amerique; vereinigte staaten; estados unidos; stati uniti
UY URY uruguay; eastern republic of uruguay; republique orientale d'uruguay
UZ UZB uzbekistan; republic of uzbekistan; ouzbekistan; republique d'ouzbekistan
VA VAT holy see vatican city state; saint-siege etat de la cite du vatican; vatican; vatican city; holy see
VC VCT saint vincent and the grenadines; saint-vincent-et-les-grenadines
VE VEN venezuela bolivarian republic of; venezuela; bolivarian republic of venezuela; venezuela republique bolivarienne du; republique bolivarienne du venezuela
VG VGB virgin islands british; british virgin islands; iles vierges britanniques
VI VIR virgin islands u s; virgin islands of the united states; iles vierges etats-unis; iles vierges des etats-unis d'amerique
VN VNM viet nam; socialist republic of viet nam; republique socialiste du viet nam
VU VUT vanuatu; republic of vanuatu; republique du vanuatu
WF WLF wallis and futuna; wallis et futuna
WS WSM samoa; independent state of samoa; etat independant de samoa
YE YEM yemen; republic of yemen; republique du yemen
YT MYT mayotte
ZA ZAF south africa; republic of south africa; afrique du sud; republique d'afrique du sud
ZM ZMB zambia; republic of zambia; zambie; republique de zambie
ZW ZWE zimbabwe; republic of zimbabwe; republique du zimbabwe
{%- endset -%}
{{- return(aliases) -}}
{%- endmacro %}
