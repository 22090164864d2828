"""Place names compared as names even when typed in lower case (gateway/cache/verify.py). Data only.

Why a gazetteer: questions about places are often typed in lower case ("capital of austria",
"flights to dubai"), and a lower-case word is not a name to the capitalisation rule, so a question
re-worded around a different place ("what's the weather in paris in may" / "weather in rome in
may?") slipped past the content-swap rule. Countries, US states and large cities. Names that are also
common English words (turkey, chad, jordan, nice, reading, mobile, split, bath, cork) are left out,
since a lower-case "turkey" is usually food. Multi-word names are listed by one distinctive word
("zealand", "lanka"). A listed word only rejects when one question has it and the other lacks it.
"""

from __future__ import annotations

_COUNTRIES = """afghanistan albania algeria andorra angola argentina armenia australia austria azerbaijan
bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia botswana brazil
brunei bulgaria burkina burundi cambodia cameroon canada chile china colombia comoros congo croatia cuba
cyprus czechia czech denmark djibouti dominica ecuador egypt eritrea estonia eswatini ethiopia fiji finland
france gabon gambia georgia germany ghana greece grenada guatemala guinea guyana haiti honduras hungary
iceland india indonesia iran iraq ireland israel italy jamaica japan kazakhstan kenya kiribati kosovo
kuwait kyrgyzstan laos latvia lebanon lesotho liberia libya liechtenstein lithuania luxembourg madagascar
malawi malaysia maldives mali malta mauritania mauritius mexico micronesia moldova monaco mongolia
montenegro morocco mozambique myanmar namibia nauru nepal netherlands nicaragua niger nigeria norway oman
pakistan palau palestine panama paraguay peru philippines poland portugal qatar romania russia rwanda
samoa senegal serbia seychelles singapore slovakia slovenia somalia spain lanka sudan suriname sweden
switzerland syria taiwan tajikistan tanzania thailand togo tonga trinidad tunisia turkmenistan tuvalu
uganda ukraine uruguay uzbekistan vanuatu venezuela vietnam yemen zambia zimbabwe zealand korea
scotland wales england britain"""

_US_STATES = """alabama alaska arizona arkansas california colorado connecticut delaware florida hawaii idaho
illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota
mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah
vermont virginia wisconsin wyoming carolina dakota"""

_CITIES = """amsterdam athens atlanta auckland austin baghdad bangkok barcelona beijing beirut belgrade berlin
bogota boston brisbane brussels bucharest budapest cairo calgary chicago copenhagen dallas delhi denver
detroit doha dubai dublin edinburgh florence frankfurt geneva glasgow hamburg hanoi havana helsinki
honolulu houston istanbul jakarta jerusalem johannesburg kabul karachi kathmandu kiev kyiv krakow
kuala lagos lahore lima lisbon liverpool ljubljana london madrid manchester manila marseille melbourne
miami milan minneapolis montreal moscow mumbai munich nairobi naples osaka oslo ottawa paris perth
philadelphia phoenix prague pyongyang quebec reykjavik riga rome rotterdam salzburg santiago seattle
seoul shanghai singapore sofia stockholm strasbourg sydney taipei tallinn tehran tokyo toronto tunis
vancouver venice vienna vilnius warsaw wellington zagreb zurich bratislava sarajevo tbilisi yerevan baku
tashkent almaty dhaka colombo lyon porto seville valencia bordeaux cologne stuttgart dresden leipzig
hiroshima kyoto nagoya shenzhen guangzhou hongkong macau sacramento portland"""

PLACES = frozenset((_COUNTRIES + " " + _US_STATES + " " + _CITIES).split())
