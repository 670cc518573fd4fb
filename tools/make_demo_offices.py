#!/usr/bin/env python3
"""Write the demo office directory, config/offices.csv (deterministic: same output on every run).

    .venv/bin/python tools/make_demo_offices.py [--out config/offices.csv]

Ten offices (SIE) per département of the ten sites (config/sites.yaml), plus four Paris offices
that no site covers. Names and INSEE-like commune codes are those of real towns of each département;
the numbers are fictional, in the ranges ARCEP reserves for fiction:

    02 61 91 xx xx  offices of the Morlaix, Alençon and Lisieux sites (north-west)
    03 53 01 xx xx  offices of the Lons-le-Saunier and Châlons-en-Champagne sites (north-east)
    04 65 71 xx xx  offices of the Pau, Decazeville, Cahors, Carpentras and Perpignan sites (the
                    south-west's 05 36 49 range is kept for the callers of the integration tests)
    01 99 00 xx xx  the Paris offices

The last four digits are A B CD: CD = département, B = the office's rank in its département (0-9),
A = 0 for its published number (1 in 02 61 91: 02 61 91 09 xx is kept for the tests' unknown called
number), 5 for a second published number, 9 for its internal line. This keeps clear of the national
number +33199001000 and of the platform numbers +33199002000-+33199002999.

Coverage: each site covers its first département from its opening date and its other two some
months later; about 10 % of the offices are never covered, about 5 % only from 2027 or later,
a few are covered by a site of another département (back office, or before being taken over by
their own site) and a few are no longer covered.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 20210901

# site -> (prefix of its offices' numbers, [(département, date its coverage starts)])
SITES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "pau": ("+3346571", [("64", "2021-09-01"), ("65", "2022-01-03"), ("40", "2022-06-01")]),
    "cahors": ("+3346571", [("46", "2022-03-01"), ("82", "2022-09-01"), ("47", "2023-01-02")]),
    "decazeville": ("+3346571", [("12", "2022-03-01"), ("15", "2022-10-03"), ("48", "2023-03-01")]),
    "lons-le-saunier": ("+3335301", [("39", "2022-01-03"), ("25", "2022-06-01"), ("70", "2023-01-02")]),
    "morlaix": ("+3326191", [("29", "2022-09-01"), ("22", "2023-01-02"), ("56", "2023-06-01")]),
    "alencon": ("+3326191", [("61", "2023-01-02"), ("72", "2023-06-01"), ("53", "2023-11-02")]),
    "lisieux": ("+3326191", [("14", "2023-03-01"), ("27", "2023-09-01"), ("50", "2024-01-02")]),
    "chalons-en-champagne": ("+3335301", [("51", "2023-09-01"), ("08", "2024-01-02"), ("10", "2024-04-02")]),
    "carpentras": ("+3346571", [("84", "2024-01-02"), ("26", "2024-04-02"), ("04", "2024-09-02")]),
    "perpignan": ("+3346571", [("66", "2024-09-02"), ("11", "2025-01-06"), ("09", "2025-03-03")]),
}
PRIMARY = {"+3326191": "1"}  # digit A of published numbers, "0" elsewhere
SECOND, LINE = "5", "9"

# département -> ten (INSEE commune code, town); a town written twice has two offices (-01, -02)
TOWNS: dict[str, list[tuple[str, str]]] = {
    "64": [("64445", "Pau"), ("64102", "Bayonne"), ("64122", "Biarritz"), ("64024", "Anglet"),
           ("64422", "Oloron-Sainte-Marie"), ("64430", "Orthez"), ("64483", "Saint-Jean-de-Luz"),
           ("64410", "Mourenx"), ("64260", "Hendaye"), ("64493", "Saint-Palais")],
    "65": [("65440", "Tarbes Nord"), ("65440", "Tarbes Sud"), ("65286", "Lourdes"),
           ("65059", "Bagnères-de-Bigorre"), ("65258", "Lannemezan"), ("65460", "Vic-en-Bigorre"),
           ("65025", "Argelès-Gazost"), ("65304", "Maubourguet"), ("65417", "Séméac"),
           ("65047", "Aureilhan")],
    "40": [("40192", "Mont-de-Marsan"), ("40088", "Dax"), ("40279", "Saint-Paul-lès-Dax"),
           ("40046", "Biscarrosse"), ("40184", "Mimizan"), ("40001", "Aire-sur-l'Adour"),
           ("40284", "Saint-Vincent-de-Tyrosse"), ("40313", "Tartas"), ("40119", "Hagetmau"),
           ("40065", "Capbreton")],
    "46": [("46042", "Cahors"), ("46102", "Figeac"), ("46127", "Gourdon"), ("46309", "Souillac"),
           ("46251", "Saint-Céré"), ("46128", "Gramat"), ("46029", "Biars-sur-Cère"), ("46224", "Pradines"),
           ("46225", "Prayssac"), ("46231", "Puy-l'Évêque")],
    "82": [("82121", "Montauban"), ("82033", "Castelsarrasin"), ("82112", "Moissac"),
           ("82186", "Valence d'Agen"), ("82037", "Caussade"), ("82134", "Nègrepelisse"),
           ("82013", "Beaumont-de-Lomagne"), ("82190", "Verdun-sur-Garonne"), ("82075", "Grisolles"),
           ("82125", "Montech")],
    "47": [("47001", "Agen"), ("47323", "Villeneuve-sur-Lot"), ("47157", "Marmande"), ("47195", "Nérac"),
           ("47310", "Tonneins"), ("47106", "Fumel"), ("47201", "Le Passage"),
           ("47252", "Sainte-Livrade-sur-Lot"), ("47052", "Casteljaloux"), ("47031", "Boé")],
    "12": [("12202", "Rodez"), ("12145", "Millau"), ("12300", "Villefranche-de-Rouergue"),
           ("12089", "Decazeville"), ("12208", "Saint-Affrique"), ("12096", "Espalion"),
           ("12176", "Onet-le-Château"), ("12052", "Capdenac-Gare"), ("12119", "Laguiole"),
           ("12270", "Sévérac-d'Aveyron")],
    "15": [("15014", "Aurillac"), ("15187", "Saint-Flour"), ("15120", "Mauriac"),
           ("15012", "Arpajon-sur-Cère"), ("15267", "Ytrac"), ("15162", "Riom-ès-Montagnes"),
           ("15138", "Murat"), ("15122", "Maurs"), ("15119", "Massiac"), ("15265", "Ydes")],
    "48": [("48095", "Mende"), ("48092", "Marvejols"), ("48140", "Saint-Chély-d'Apcher"),
           ("48080", "Langogne"), ("48061", "Florac Trois Rivières"), ("48034", "La Canourgue"),
           ("48198", "Villefort"), ("48096", "Meyrueis"), ("48090", "Le Malzieu-Ville"), ("48039", "Chanac")],
    "39": [("39300", "Lons-le-Saunier"), ("39198", "Dole"), ("39478", "Saint-Claude"),
           ("39097", "Champagnole"), ("39434", "Poligny"), ("39372", "Morez"), ("39013", "Arbois"),
           ("39500", "Salins-les-Bains"), ("39333", "Moirans-en-Montagne"), ("39526", "Tavaux")],
    "25": [("25056", "Besançon Est"), ("25056", "Besançon Ouest"), ("25388", "Montbéliard"),
           ("25462", "Pontarlier"), ("25031", "Audincourt"), ("25580", "Valentigney"), ("25411", "Morteau"),
           ("25047", "Baume-les-Dames"), ("25434", "Ornans"), ("25356", "Maîche")],
    "70": [("70550", "Vesoul"), ("70310", "Lure"), ("70311", "Luxeuil-les-Bains"), ("70279", "Gray"),
           ("70285", "Héricourt"), ("70467", "Saint-Loup-sur-Semouse"), ("70446", "Rioz"),
           ("70120", "Champagney"), ("70421", "Port-sur-Saône"), ("70561", "Villersexel")],
    "29": [("29019", "Brest Nord"), ("29019", "Brest Sud"), ("29232", "Quimper"), ("29151", "Morlaix"),
           ("29103", "Landerneau"), ("29039", "Concarneau"), ("29233", "Quimperlé"),
           ("29024", "Carhaix-Plouguer"), ("29046", "Douarnenez"), ("29105", "Landivisiau")],
    "22": [("22278", "Saint-Brieuc"), ("22113", "Lannion"), ("22050", "Dinan"), ("22070", "Guingamp"),
           ("22136", "Loudéac"), ("22093", "Lamballe-Armor"), ("22162", "Paimpol"),
           ("22168", "Perros-Guirec"), ("22187", "Plérin"), ("22266", "Rostrenen")],
    "56": [("56260", "Vannes"), ("56121", "Lorient"), ("56178", "Pontivy"), ("56007", "Auray"),
           ("56165", "Ploërmel"), ("56098", "Lanester"), ("56083", "Hennebont"), ("56184", "Questembert"),
           ("56186", "Quiberon"), ("56075", "Guer")],
    "61": [("61001", "Alençon"), ("61169", "Flers"), ("61006", "Argentan"), ("61214", "L'Aigle"),
           ("61293", "Mortagne-au-Perche"), ("61168", "La Ferté-Macé"), ("61145", "Domfront en Poiraie"),
           ("61464", "Sées"), ("61508", "Vimoutiers"), ("61038", "Bellême")],
    "72": [("72181", "Le Mans Nord"), ("72181", "Le Mans Sud"), ("72154", "La Flèche"),
           ("72264", "Sablé-sur-Sarthe"), ("72180", "Mamers"), ("72071", "Château-du-Loir"),
           ("72132", "La Ferté-Bernard"), ("72003", "Allonnes"), ("72269", "Saint-Calais"),
           ("72124", "Écommoy")],
    "53": [("53130", "Laval"), ("53147", "Mayenne"), ("53062", "Château-Gontier-sur-Mayenne"),
           ("53097", "Évron"), ("53096", "Ernée"), ("53084", "Craon"), ("53054", "Changé"),
           ("53034", "Bonchamp-lès-Laval"), ("53271", "Villaines-la-Juhel"), ("53107", "Gorron")],
    "14": [("14118", "Caen Nord"), ("14118", "Caen Sud"), ("14366", "Lisieux"), ("14047", "Bayeux"),
           ("14762", "Vire Normandie"), ("14327", "Hérouville-Saint-Clair"), ("14333", "Honfleur"),
           ("14258", "Falaise"), ("14220", "Deauville"), ("14514", "Pont-l'Évêque")],
    "27": [("27229", "Évreux"), ("27681", "Vernon"), ("27375", "Louviers"), ("27701", "Val-de-Reuil"),
           ("27056", "Bernay"), ("27467", "Pont-Audemer"), ("27016", "Les Andelys"), ("27284", "Gisors"),
           ("27679", "Verneuil d'Avre et d'Iton"), ("27275", "Gaillon")],
    "50": [("50502", "Saint-Lô"), ("50129", "Cherbourg-en-Cotentin"), ("50218", "Granville"),
           ("50147", "Coutances"), ("50025", "Avranches"), ("50615", "Valognes"),
           ("50099", "Carentan-les-Marais"), ("50639", "Villedieu-les-Poêles-Rouffigny"),
           ("50359", "Mortain-Bocage"), ("50484", "Saint-Hilaire-du-Harcouët")],
    "51": [("51108", "Châlons-en-Champagne"), ("51454", "Reims Nord"), ("51454", "Reims Sud"),
           ("51230", "Épernay"), ("51649", "Vitry-le-François"), ("51535", "Sézanne"),
           ("51507", "Sainte-Menehould"), ("51573", "Tinqueux"), ("51250", "Fismes"),
           ("51388", "Mourmelon-le-Grand")],
    "08": [("08105", "Charleville-Mézières"), ("08409", "Sedan"), ("08362", "Rethel"), ("08490", "Vouziers"),
           ("08190", "Givet"), ("08363", "Revin"), ("08328", "Nouzonville"), ("08081", "Bogny-sur-Meuse"),
           ("08185", "Fumay"), ("08090", "Carignan")],
    "10": [("10387", "Troyes"), ("10323", "Romilly-sur-Seine"), ("10081", "La Chapelle-Saint-Luc"),
           ("10033", "Bar-sur-Aube"), ("10268", "Nogent-sur-Seine"), ("10034", "Bar-sur-Seine"),
           ("10333", "Saint-André-les-Vergers"), ("10064", "Brienne-le-Château"), ("10006", "Arcis-sur-Aube"),
           ("10362", "Sainte-Savine")],
    "84": [("84007", "Avignon"), ("84031", "Carpentras"), ("84087", "Orange"), ("84035", "Cavaillon"),
           ("84003", "Apt"), ("84089", "Pertuis"), ("84054", "L'Isle-sur-la-Sorgue"), ("84019", "Bollène"),
           ("84129", "Sorgues"), ("84137", "Vaison-la-Romaine")],
    "26": [("26362", "Valence"), ("26198", "Montélimar"), ("26281", "Romans-sur-Isère"), ("26113", "Die"),
           ("26220", "Nyons"), ("26108", "Crest"), ("26235", "Pierrelatte"), ("26058", "Bourg-lès-Valence"),
           ("26333", "Saint-Vallier"), ("26347", "Tain-l'Hermitage")],
    "04": [("04070", "Digne-les-Bains"), ("04112", "Manosque"), ("04209", "Sisteron"),
           ("04088", "Forcalquier"), ("04019", "Barcelonnette"), ("04143", "Oraison"),
           ("04049", "Château-Arnoux-Saint-Auban"), ("04039", "Castellane"), ("04166", "Riez"),
           ("04245", "Volx")],
    "66": [("66136", "Perpignan Nord"), ("66136", "Perpignan Sud"), ("66049", "Céret"), ("66149", "Prades"),
           ("66008", "Argelès-sur-Mer"), ("66037", "Canet-en-Roussillon"), ("66172", "Saint-Estève"),
           ("66164", "Rivesaltes"), ("66210", "Thuir"), ("66065", "Elne")],
    "11": [("11069", "Carcassonne"), ("11262", "Narbonne"), ("11206", "Limoux"), ("11076", "Castelnaudary"),
           ("11203", "Lézignan-Corbières"), ("11304", "Quillan"), ("11266", "Port-la-Nouvelle"),
           ("11106", "Coursan"), ("11397", "Trèbes"), ("11379", "Sigean")],
    "09": [("09122", "Foix"), ("09225", "Pamiers"), ("09261", "Saint-Girons"), ("09160", "Lavelanet"),
           ("09282", "Saverdun"), ("09306", "Tarascon-sur-Ariège"), ("09185", "Mazères"),
           ("09194", "Mirepoix"), ("09324", "Varilhes"), ("09032", "Ax-les-Thermes")],
}
PARIS = ["Paris 1er", "Paris 2e", "Paris 3e", "Paris 4e"]  # never covered, ranks 1-4
PARIS_PREFIX = "+3319900"

# rows the integration tests rely on, written exactly so
FIXED = {
    "sie-64445-01": "pau@2021-09-01",  # covered by Pau since 2021
    "sie-64102-01": "pau@2030-01-01",  # covered only from 2030
}


def office_name(town: str) -> str:
    if town.startswith("Les "):
        return f"SIE des {town[4:]}"
    if town.startswith("Le "):
        return f"SIE du {town[3:]}"
    if town[0] in "AEIOUYÉÈÊÂ":
        return f"SIE d'{town}"
    return f"SIE de {town}"


def coverage_of(site: str, since: str, kind: str, other: str, rng: random.Random) -> str:
    if kind == "never":
        return ""
    if kind == "future":
        return f"{site}@{rng.choice(('2027', '2028', '2029'))}-{rng.choice(('01-04', '03-01', '09-01'))}"
    if kind == "back-office":  # covered by another site's back office, never by its own
        return f"{other}@{since}"
    if kind == "taken-over":  # first by another site, then by its own
        return f"{other}@{since};{site}@{rng.choice(('2025-01-06', '2025-09-01', '2026-03-02'))}"
    if kind == "ended":
        return f"{site}@{since};-@{rng.choice(('2025-07-01', '2026-01-05'))}"
    if kind == "ending":
        return f"{site}@{since};-@2026-12-31"
    return f"{site}@{since}"


def rows() -> list[list[str]]:
    rng = random.Random(SEED)
    offices = []  # (site, prefix, département, since, rank, id, name)
    for site, (prefix, departements) in SITES.items():
        for dep, since in departements:
            seen: dict[str, int] = {}
            for rank, (insee, town) in enumerate(TOWNS[dep]):
                seen[insee] = seen.get(insee, 0) + 1
                ident = f"sie-{insee}-{seen[insee]:02d}"
                offices.append((site, prefix, dep, since, rank, ident, office_name(town)))
    # special cases, never the first office of a département (its main town) nor a fixed row
    candidates = [o for o in offices if o[4] != 0 and o[5] not in FIXED]
    picked = rng.sample(candidates, 30 + 14 + 3 + 3 + 3 + 2)
    kinds: dict[str, str] = {}
    for count, kind in ((30, "never"), (14, "future"), (3, "back-office"), (3, "taken-over"), (3, "ended"),
                        (2, "ending")):
        kinds.update((o[5], kind) for o in picked[:count])
        picked = picked[count:]
    two_numbers = {o[5] for o in rng.sample(offices, 25)}
    site_ids = list(SITES)

    out = []
    for site, prefix, dep, since, rank, ident, name in offices:
        kind = kinds.get(ident, "normal")
        other = rng.choice([s for s in site_ids if s != site])
        coverage = FIXED.get(ident) or coverage_of(site, since, kind, other, rng)
        if kind in ("back-office", "taken-over"):  # from the other site's opening date
            start = SITES[other][1][0][1]
            coverage = coverage.replace(since, start, 1) if kind == "back-office" else \
                f"{other}@{start};" + coverage.split(";", 1)[1]
        primary = PRIMARY.get(prefix, "0")
        numbers = [f"{prefix}{primary}{rank}{dep}"]
        if ident in two_numbers and ident not in FIXED:
            numbers.append(f"{prefix}{SECOND}{rank}{dep}")
        out.append([ident, name, dep, " ".join(numbers), f"{prefix}{LINE}{rank}{dep}", coverage])
    for rank, district in enumerate(PARIS, start=1):
        out.append([f"sie-75056-{rank:02d}", f"SIE de {district}", "75", f"{PARIS_PREFIX}0{rank}75",
                    f"{PARIS_PREFIX}{LINE}{rank}75", ""])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "config" / "offices.csv")
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "name", "departement", "numbers", "internal_line", "coverage"])
        writer.writerows(rows())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
