"""Fixed pools the generator draws from: names, e-mail domains, countries, stores, products.

Everything here is a constant tuple so a draw is one index (``pool[int(r() * len(pool))]``), the cheapest
choice Python offers. No value contains a tab, newline, backslash, semicolon or double quote, so generated
values can be written to COPY text, CSV and JSON without escaping.
"""

from __future__ import annotations

import unicodedata

FIRST_NAMES_F = (
    "Marie", "Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Sarah", "Julie", "Laura", "Pauline",
    "Anaïs", "Claire", "Lucie", "Élodie", "Céline", "Sophie", "Nathalie", "Isabelle", "Sandrine", "Aurélie",
    "Mathilde", "Charlotte", "Juliette", "Hélène", "Valérie", "Nadia", "Fatima", "Amina", "Yasmine", "Lina",
    "Zoé", "Louise", "Alice", "Jade", "Agathe", "Margaux", "Océane", "Émilie", "Caroline", "Virginie",
    "Stéphanie", "Christine", "Monique", "Françoise", "Brigitte", "Anne", "Sylvie", "Patricia", "Martine",
)
FIRST_NAMES_M = (
    "Thomas", "Nicolas", "Julien", "Maxime", "Alexandre", "Antoine", "Lucas", "Hugo", "Louis", "Paul",
    "Pierre", "Jean", "Michel", "Philippe", "Laurent", "Olivier", "Sébastien", "Christophe", "Stéphane",
    "Frédéric", "Mehdi", "Karim", "Youssef", "Mohamed", "Rayan", "Adam", "Gabriel", "Arthur", "Raphaël",
    "Léo", "Nathan", "Théo", "Clément", "Baptiste", "Romain", "Guillaume", "Mathieu", "Damien", "Benoît",
    "François", "Jérôme", "Éric", "Patrick", "Alain", "Bernard", "Daniel", "Marc", "David", "Vincent", "Yann",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez",
    "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier",
    "Robin", "Masson", "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly",
    "Gautier", "Roger", "Roche", "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Jean", "Perez", "Marchand",
    "Dufour", "Blanchard", "Marie", "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin",
    "Fernandez", "Pierre", "Renard", "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal",
    "Bourgeois", "Renaud", "Lemoine", "Picard", "Gaillard", "Philippe", "Leclercq", "Lacroix", "Fabre",
    "Dupuis", "Olivier", "Rodriguez", "Da Silva", "Hubert", "Louis", "Charles", "Guillot", "Rivière",
    "Le Gall", "Guillaume", "Adam", "Rey", "Moulin", "Gonzalez", "Berger", "Lecomte", "Ménard", "Fleury",
    "Deschamps", "Carpentier", "Julien", "Benoît", "Paris", "Maillard", "Marchal", "Aubry", "Vasseur",
    "Le Roux", "Renault", "Jacquet", "Collet", "Prévost", "Poirier", "Charpentier", "Royer", "Huet",
    "Baron", "Dupuy", "Pons", "Paul", "Laine", "Carré", "Breton", "Rémy", "Schneider", "Pérès", "Leblanc",
)

# (domain, typo of the domain that a hurried user types)
EMAIL_DOMAINS = (
    ("gmail.com", "gmial.com"), ("gmail.com", "gmail.con"), ("gmail.com", "gmail.fr"),
    ("orange.fr", "ornage.fr"), ("hotmail.fr", "hotmial.fr"), ("hotmail.com", "hotmail.co"),
    ("yahoo.fr", "yahooo.fr"), ("free.fr", "fre.fr"), ("outlook.fr", "outlok.fr"),
    ("laposte.net", "lapost.net"), ("sfr.fr", "sfr.com"), ("wanadoo.fr", "wanado.fr"),
    ("icloud.com", "iclod.com"), ("gmail.com", "gmal.com"), ("live.fr", "live.fe"),
)
# Shared by unrelated people: a dedup that trusts e-mail alone merges them all.
PLACEHOLDER_EMAILS = ("test@test.com", "noreply@noreply.com", "a@a.fr", "no-reply@shop.example",
                      "xx@xx.com", "client@magasin.fr", "TEST@TEST.COM")
MISSING_TEXT = ("", "N/A", "n/a", "-", "NULL", "none")
PLACEHOLDER_PHONES = ("0000000000", "0600000000", "+33 0 00 00 00 00", "N/A")

# ISO code, share of people, international prefix, national digits after the first, messy spellings in files
COUNTRIES = (
    ("FR", 0.85, "33", ("France", "FR", "fra", "FRANCE", " france ", "Fr", "france", "")),
    ("BE", 0.05, "32", ("Belgique", "BE", "Belgium", "bel", "belgique ")),
    ("CH", 0.03, "41", ("Suisse", "CH", "Switzerland", "che", "Schweiz")),
    ("DE", 0.03, "49", ("Deutschland", "DE", "Germany", "Allemagne", "deu")),
    ("GB", 0.02, "44", ("United Kingdom", "UK", "GB", "Royaume-Uni", "England")),
    ("US", 0.02, "1", ("USA", "US", "United States", "États-Unis", "usa")),
)

FR_CITIES = (
    ("Paris", "75"), ("Lyon", "69"), ("Marseille", "13"), ("Toulouse", "31"), ("Nice", "06"),
    ("Nantes", "44"), ("Strasbourg", "67"), ("Montpellier", "34"), ("Bordeaux", "33"), ("Lille", "59"),
    ("Rennes", "35"), ("Reims", "51"), ("Grenoble", "38"), ("Dijon", "21"), ("Angers", "49"),
    ("Nîmes", "30"), ("Annecy", "74"), ("Bourg-en-Bresse", "01"), ("Ajaccio", "20"), ("Tours", "37"),
)
STORE_KINDS = ("Centre", "Gare", "Rivoli", "Part-Dieu", "Confluence", "Capitole", "Vieux-Port",
               "Mériadeck", "Euralille", "Odysseum", "Grand Place", "Les Halles", "Carré Sénart")

CATEGORIES = ("shoes", "tops", "trousers", "dresses", "accessories", "outerwear", "beauty", "home", "kids",
              "sport")
# Price in cents of the 200 products, by product number: 9.90 to 149.90.
PRODUCT_PRICES = tuple(990 + ((i * 7919) % 29) * 500 for i in range(200))
SEARCH_TERMS = ("robe", "baskets", "jean slim", "veste", "pull", "sac", "soldes", "t-shirt blanc",
                "chaussures femme", "manteau", "bonnet", "parfum")
WEB_PAGES = ("/", "/nouveautes", "/soldes", "/femme", "/homme", "/enfant", "/magasins", "/panier", "/compte")
# (event type, cumulated weight) for anonymous browsing; login and newsletter_signup are placed on purpose.
WEB_EVENT_TYPES = (("page_view", 0.45), ("product_view", 0.75), ("search", 0.87), ("add_to_cart", 1.0))


def ascii_fold(text: str) -> str:
    """``Hélène Le Gall`` -> ``helene le gall``: what people type into an e-mail address."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def cumulated(weights):
    """Cumulated shares, for drawing with one ``random()`` and a short scan."""
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return tuple(out)
