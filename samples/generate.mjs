#!/usr/bin/env node
// Writes samples/messages.jsonl: a deterministic stream of Airbyte protocol messages (LOG, RECORD,
// STATE) for two streams in namespace "docs", as a document-archive source would emit them.
//
//   node samples/generate.mjs            # rewrites samples/messages.jsonl
//   node samples/generate.mjs --stdout   # prints the messages instead
//
// Everything is derived from SEED through a small PRNG: no clock, no Math.random, no dependencies.
// Every company, person, address and account number in the output is invented.

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SEED = 0x5eed2025;
const NAMESPACE = 'docs';
const FIRST_EMITTED_AT = 1764000000000;
const START_RECEIVED = Date.UTC(2025, 8, 1, 7, 12, 0); // 2025-09-01T07:12:00Z
const STATE_EVERY = 50;

// Unique documents per stream and type; duplicates are added on top of these.
const PLAN = {
  business_documents: { invoice: 89, contract: 69 },
  correspondence: { report: 65, letter: 74 },
};

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = mulberry32(SEED);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const chance = (p) => rand() < p;
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
function shuffle(arr) {
  const a = arr.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
function sample(arr, n) {
  return shuffle(arr).slice(0, n);
}
const digits = (n) => Array.from({ length: n }, () => String(int(0, 9))).join('');
const upperLetters = (n) => Array.from({ length: n }, () => String.fromCharCode(65 + int(0, 25))).join('');

// ---------------------------------------------------------------------------------------------
// Dates and money
// ---------------------------------------------------------------------------------------------

const DAY = 86_400_000;
const MONTHS_EN = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const MONTHS_DE = ['Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli', 'August', 'September', 'Oktober', 'November', 'Dezember'];
const MONTHS_FR = ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'];
const MONTHS_ES = ['enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre'];

const pad = (n, w = 2) => String(n).padStart(w, '0');
const isoDate = (ms) => new Date(ms).toISOString().slice(0, 10);
const rfc3339 = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
function longDate(ms, style) {
  const d = new Date(ms);
  const day = d.getUTCDate();
  const m = d.getUTCMonth();
  const y = d.getUTCFullYear();
  switch (style) {
    case 'us':
      return `${MONTHS_EN[m]} ${day}, ${y}`;
    case 'de':
      return `${day}. ${MONTHS_DE[m]} ${y}`;
    case 'fr':
      return `${day === 1 ? '1er' : day} ${MONTHS_FR[m]} ${y}`;
    case 'es':
      return `${day} de ${MONTHS_ES[m]} de ${y}`;
    default:
      return `${day} ${MONTHS_EN[m]} ${y}`;
  }
}
const quarterOf = (ms) => Math.floor(new Date(ms).getUTCMonth() / 3) + 1;

// Amounts are kept in minor units (cents) so totals add up exactly.
const CURRENCY = {
  GBP: { perUsd: 0.79, decimals: 2 },
  EUR: { perUsd: 0.92, decimals: 2 },
  USD: { perUsd: 1, decimals: 2 },
  NOK: { perUsd: 10.6, decimals: 2 },
  CHF: { perUsd: 0.88, decimals: 2 },
  CAD: { perUsd: 1.37, decimals: 2 },
  INR: { perUsd: 83, decimals: 2 },
  NGN: { perUsd: 1540, decimals: 2 },
  JPY: { perUsd: 151, decimals: 0 },
};
function money(minor, cur, style = 'en') {
  const dec = CURRENCY[cur].decimals;
  const major = dec === 0 ? Math.round(minor / 100) : minor / 100;
  const [i, f] = major.toFixed(dec).split('.');
  const group = style === 'de' || style === 'es' ? '.' : style === 'fr' ? '\u202f' : ',';
  const point = style === 'en' ? '.' : ',';
  const grouped = i.replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return f === undefined ? grouped : `${grouped}${point}${f}`;
}
const toNumber = (minor, cur) => (CURRENCY[cur].decimals === 0 ? Math.round(minor / 100) : minor / 100);
/** A price given in US dollars, converted to `cur` and rounded to a plausible precision, in minor units. */
function price(usdLo, usdHi, cur, roundTo = 1) {
  const usd = usdLo + rand() * (usdHi - usdLo);
  const local = usd * CURRENCY[cur].perUsd;
  const step = roundTo * (CURRENCY[cur].perUsd >= 50 ? 10 : 1);
  return Math.max(1, Math.round(local / step) * step) * 100;
}

// ---------------------------------------------------------------------------------------------
// Invented world: countries, organisations, people
// ---------------------------------------------------------------------------------------------

const COUNTRIES = {
  'United Kingdom': {
    cur: 'GBP', vat: 20, style: 'en', law: 'England and Wales',
    first: ['Oliver', 'Amelia', 'Harriet', 'Callum', 'Priya', 'Tom', 'Grace', 'Rhys', 'Imogen', 'Samir'],
    last: ['Whitfield', 'Ashworth', 'Patel', 'Brennan', 'Osei', 'Clarke', 'Pemberton', 'Hughes', 'Lockwood', 'Rahman'],
  },
  'United States': {
    cur: 'USD', vat: 0, style: 'us', law: 'the State of Delaware',
    first: ['Marcus', 'Jenna', 'Dolores', 'Kevin', 'Aisha', 'Ryan', 'Brooke', 'Luis', 'Tamika', 'Derek'],
    last: ['Delgado', 'Whitaker', 'Nguyen', 'Brooks', 'Kowalski', 'Hart', 'Castillo', 'Lindgren', 'Washington', 'Meyers'],
  },
  Germany: {
    cur: 'EUR', vat: 19, style: 'de', law: 'the Federal Republic of Germany',
    first: ['Jonas', 'Katrin', 'Matthias', 'Lena', 'Florian', 'Sabine', 'Tobias', 'Anja', 'Stefan', 'Miriam'],
    last: ['Becker', 'Hoffmann', 'Vogel', 'Krüger', 'Scholz', 'Neumann', 'Brandt', 'Wagner', 'Lehmann', 'Schäfer'],
  },
  France: {
    cur: 'EUR', vat: 20, style: 'fr', law: 'France',
    first: ['Camille', 'Julien', 'Élodie', 'Thibault', 'Margaux', 'Luc', 'Inès', 'Bastien', 'Claire', 'Mathis'],
    last: ['Moreau', 'Girard', 'Lefèvre', 'Rousseau', 'Fontaine', 'Chevalier', 'Garnier', 'Mercier', 'Blanc', 'Faure'],
  },
  Spain: {
    cur: 'EUR', vat: 21, style: 'es', law: 'Spain',
    first: ['Lucía', 'Javier', 'Marta', 'Álvaro', 'Carmen', 'Diego', 'Nuria', 'Sergio', 'Pilar', 'Hugo'],
    last: ['Castellano', 'Ortega', 'Navarro', 'Ibáñez', 'Serrano', 'Molina', 'Herrera', 'Vidal', 'Cano', 'Prieto'],
  },
  Netherlands: {
    cur: 'EUR', vat: 21, style: 'en', law: 'the Netherlands',
    first: ['Daan', 'Sanne', 'Pieter', 'Femke', 'Ruben', 'Lotte', 'Bram', 'Ilse', 'Joost', 'Maaike'],
    last: ['de Vries', 'Jansen', 'Bakker', 'Visser', 'van Dijk', 'Mulder', 'Smit', 'de Graaf', 'Kuipers', 'Hendriks'],
  },
  Norway: {
    cur: 'NOK', vat: 25, style: 'en', law: 'Norway',
    first: ['Ingrid', 'Håkon', 'Sigrid', 'Eirik', 'Marit', 'Tor', 'Solveig', 'Anders', 'Kari', 'Magnus'],
    last: ['Halvorsen', 'Berg', 'Nilsen', 'Dahl', 'Solberg', 'Haugen', 'Bakken', 'Strand', 'Lie', 'Moen'],
  },
  Ireland: {
    cur: 'EUR', vat: 23, style: 'en', law: 'Ireland',
    first: ['Aoife', 'Cian', 'Niamh', 'Seán', 'Róisín', 'Darragh', 'Ciara', 'Eoin', 'Saoirse', 'Conor'],
    last: ['Byrne', 'Kavanagh', "O'Sullivan", 'Doyle', 'Fitzgerald', 'Keane', 'Lynch', 'Gallagher', 'Quinn', 'Brady'],
  },
  India: {
    cur: 'INR', vat: 18, style: 'en', law: 'India',
    first: ['Ananya', 'Rohan', 'Kavya', 'Vikram', 'Meera', 'Arjun', 'Sneha', 'Aditya', 'Ishita', 'Karan'],
    last: ['Iyer', 'Mehta', 'Reddy', 'Kulkarni', 'Bose', 'Sharma', 'Nair', 'Joshi', 'Desai', 'Menon'],
  },
  Nigeria: {
    cur: 'NGN', vat: 7.5, style: 'en', law: 'the Federal Republic of Nigeria',
    first: ['Chidi', 'Ngozi', 'Tunde', 'Folake', 'Emeka', 'Zainab', 'Ifeoma', 'Segun', 'Amaka', 'Yusuf'],
    last: ['Okafor', 'Adeyemi', 'Eze', 'Balogun', 'Nwosu', 'Bello', 'Okonjo', 'Afolabi', 'Ibekwe', 'Lawal'],
  },
  Japan: {
    cur: 'JPY', vat: 10, style: 'en', law: 'Japan',
    first: ['Haruto', 'Yui', 'Kenji', 'Aiko', 'Takumi', 'Emi', 'Sota', 'Naoko', 'Ren', 'Mai'],
    last: ['Tanaka', 'Sato', 'Watanabe', 'Kobayashi', 'Ito', 'Nakamura', 'Yamada', 'Mori', 'Hayashi', 'Ishikawa'],
  },
  Canada: {
    cur: 'CAD', vat: 13, style: 'en', law: 'the Province of Ontario',
    first: ['Liam', 'Chloé', 'Noah', 'Avery', 'Gabriel', 'Maya', 'Ethan', 'Zoé', 'Owen', 'Leah'],
    last: ['Tremblay', 'MacDonald', 'Gagnon', 'Campbell', 'Roy', 'Singh', 'Bouchard', 'Fraser', 'Côté', 'Lam'],
  },
  Switzerland: {
    cur: 'CHF', vat: 8.1, style: 'de', law: 'Switzerland',
    first: ['Reto', 'Corinne', 'Urs', 'Nadine', 'Beat', 'Seraina', 'Lukas', 'Andrea', 'Marco', 'Fabienne'],
    last: ['Meier', 'Keller', 'Gerber', 'Brunner', 'Baumann', 'Frei', 'Zürcher', 'Huber', 'Steiner', 'Bühler'],
  },
};

// [name, short name, country, city, street, sector, mail domain]
const EXTERNAL = [
  ['Halvorsen Marine Supply AS', 'Halvorsen Marine', 'Norway', 'Bergen', 'Sandviksboder 14', 'marine', 'halvorsen-marine.example'],
  ['Brightwater Logistics Ltd', 'Brightwater', 'United Kingdom', 'Felixstowe', 'Unit 7, Dock Gate Road', 'logistics', 'brightwater-logistics.example'],
  ['Kessler & Aumann GmbH', 'Kessler & Aumann', 'Germany', 'Stuttgart', 'Heilbronner Straße 212', 'manufacturing', 'kessler-aumann.example'],
  ['Atelier Moreau SARL', 'Atelier Moreau', 'France', 'Lyon', '27 rue de la Charité', 'printing', 'atelier-moreau.example'],
  ['Okafor Agritech Ltd', 'Okafor Agritech', 'Nigeria', 'Lagos', '9 Adeola Hopewell Street, Victoria Island', 'agritech', 'okafor-agritech.example'],
  ['Pinecrest Facilities Group Inc.', 'Pinecrest', 'United States', 'Denver', '1850 Larimer Street, Suite 400', 'facilities', 'pinecrest-fg.example'],
  ['Tamarind Software Pvt Ltd', 'Tamarind', 'India', 'Pune', '4th Floor, Tower B, Baner Road', 'software', 'tamarind-soft.example'],
  ['Castellano Hermanos S.L.', 'Castellano Hermanos', 'Spain', 'Valencia', 'Avenida del Puerto 88', 'catering', 'castellanohermanos.example'],
  ['Bluefin Analytics Inc.', 'Bluefin', 'United States', 'Boston', '200 Seaport Boulevard', 'consulting', 'bluefin-analytics.example'],
  ['Ridgeway Construction LLC', 'Ridgeway', 'United States', 'Columbus', '3300 Olentangy River Road', 'construction', 'ridgeway-build.example'],
  ['Sakura Precision K.K.', 'Sakura Precision', 'Japan', 'Nagoya', '2-14-7 Meieki, Nakamura-ku', 'manufacturing', 'sakura-precision.example'],
  ['Vanterpool Freight B.V.', 'Vanterpool', 'Netherlands', 'Rotterdam', 'Waalhaven Oostzijde 61', 'logistics', 'vanterpool.example'],
  ['Corvid Security Services Ltd', 'Corvid', 'Ireland', 'Cork', 'Unit 3, Little Island Business Park', 'security', 'corvid-security.example'],
  ['Linde & Okonkwo LLP', 'Linde & Okonkwo', 'United Kingdom', 'London', '41 Chancery Lane', 'legal', 'linde-okonkwo.example'],
  ['Nordlys Energi AS', 'Nordlys', 'Norway', 'Trondheim', 'Brattørkaia 5', 'energy', 'nordlys-energi.example'],
  ['Fabrique Lumière SAS', 'Fabrique Lumière', 'France', 'Lille', '112 boulevard de la Liberté', 'facilities', 'fabrique-lumiere.example'],
  ['Gruber Fachübersetzungen GmbH', 'Gruber', 'Germany', 'Munich', 'Leopoldstraße 77', 'translation', 'gruber-uebersetzungen.example'],
  ['Alpenblick Treuhand AG', 'Alpenblick', 'Switzerland', 'Zurich', 'Seefeldstrasse 19', 'consulting', 'alpenblick-treuhand.example'],
  ['Maple Leaf Telecom Corp.', 'Maple Leaf Telecom', 'Canada', 'Toronto', '155 Wellington Street West', 'telecom', 'mapleleaf-telecom.example'],
  ['Kestrel Print & Design Ltd', 'Kestrel', 'United Kingdom', 'Norwich', '18 Magdalen Street', 'printing', 'kestrel-print.example'],
  ['Quintana Servicios Informáticos S.A.', 'Quintana', 'Spain', 'Madrid', 'Calle de Alcalá 301', 'software', 'quintana-si.example'],
  ['Van Houten Office Interiors B.V.', 'Van Houten', 'Netherlands', 'Utrecht', 'Europalaan 40', 'furniture', 'vanhouten-interiors.example'],
  ['Greenfield Waste Solutions Ltd', 'Greenfield', 'Ireland', 'Limerick', 'Raheen Industrial Estate', 'waste', 'greenfield-waste.example'],
  ['Harbourside Catering Co. Ltd', 'Harbourside', 'United Kingdom', 'Southampton', '6 Canute Road', 'catering', 'harbourside-catering.example'],
  ['Solberg Hydraulikk AS', 'Solberg Hydraulikk', 'Norway', 'Stavanger', 'Forusbeen 35', 'marine', 'solberg-hydraulikk.example'],
  ['Rheinland Fuhrpark Service GmbH', 'Rheinland Fuhrpark', 'Germany', 'Cologne', 'Industriestraße 150', 'fleet', 'rheinland-fuhrpark.example'],
  ['Clearpath HR Consulting LLC', 'Clearpath', 'United States', 'Austin', '600 Congress Avenue, Floor 14', 'hr', 'clearpath-hr.example'],
  ['Maplestone Property Management Ltd', 'Maplestone', 'United Kingdom', 'Leeds', '2 Wellington Place', 'property', 'maplestone-pm.example'],
].map(([name, short, country, city, street, sector, domain]) => ({ name, short, country, city, street, sector, domain }));

// The group whose records department receives these documents.
const INTERNAL = [
  ['Eastbrook Distribution Ltd', 'Eastbrook', 'United Kingdom', 'Leeds', 'Thorpe Park, Century Way'],
  ['Eastbrook Logistik GmbH', 'Eastbrook', 'Germany', 'Duisburg', 'Am Logport 12'],
  ['Eastbrook Retail Ireland Ltd', 'Eastbrook', 'Ireland', 'Dublin', '14 Mount Street Upper'],
  ['Eastbrook Services B.V.', 'Eastbrook', 'Netherlands', 'Eindhoven', 'Flight Forum 240'],
  ['Eastbrook Inc.', 'Eastbrook', 'United States', 'Chicago', '330 North Wabash Avenue'],
  ['Eastbrook France SAS', 'Eastbrook', 'France', 'Rouen', '5 quai de Boisguilbert'],
].map(([name, short, country, city, street]) => ({ name, short, country, city, street, sector: 'group', domain: 'eastbrook-group.example' }));

const ROLES = {
  finance: ['Accounts Receivable Manager', 'Billing Coordinator', 'Finance Officer', 'Credit Controller', 'Head of Finance'],
  legal: ['General Counsel', 'Managing Director', 'Commercial Director', 'Head of Procurement', 'Chief Operating Officer', 'Legal Counsel'],
  report: ['Operations Analyst', 'Head of Operations', 'Regional Sales Director', 'IT Security Lead', 'Sustainability Manager', 'Fleet Manager', 'HR Business Partner', 'Customer Insights Manager'],
  letter: ['Customer Service Manager', 'Office Manager', 'Account Director', 'Purchasing Manager', 'Managing Director', 'Head of People', 'Events Coordinator', 'Site Manager'],
};

const IN_COUNTRY = (c) => (['United Kingdom', 'United States', 'Netherlands'].includes(c) ? `the ${c}` : c);

function person(country) {
  const c = COUNTRIES[country];
  return { first: pick(c.first), last: pick(c.last) };
}
const fullName = (p) => `${p.first} ${p.last}`;
const senderOf = (p, org, country) => ({ name: fullName(p), organisation: org ? org.name : null, country });
function email(p, org) {
  const local = `${p.first}.${p.last}`
    .replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue').replace(/ß/g, 'ss').replace(/å/g, 'aa')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z.]/g, '')
    .toLowerCase();
  return `${local}@${org.domain}`;
}
function fakeIban(country) {
  const cc = { 'United Kingdom': 'GB', Germany: 'DE', France: 'FR', Spain: 'ES', Netherlands: 'NL', Norway: 'NO', Ireland: 'IE', Switzerland: 'CH' }[country];
  if (!cc) return null;
  const body = `${digits(2)} ${upperLetters(4)} ${digits(4)} ${digits(4)} ${digits(4)}`;
  return `${cc}${body}`;
}
function pickTags(pool, min, max) {
  return sample(pool, int(min, max));
}

// ---------------------------------------------------------------------------------------------
// Assembling bodies of a bounded length
// ---------------------------------------------------------------------------------------------

const MIN_BODY = 300;
const MAX_BODY = 1500;

/** Joins head, as many optional paragraphs as fit (in their given order), and tail. */
function compose(head, optional, tail, sep = '\n\n') {
  const parts = [...head];
  const size = (xs) => [...xs, ...tail].join(sep).length;
  for (const p of optional) {
    if (size([...parts, p]) <= MAX_BODY) parts.push(p);
  }
  const body = [...parts, ...tail].join(sep);
  if (body.length < MIN_BODY || body.length > MAX_BODY) {
    throw new Error(`body length ${body.length} outside ${MIN_BODY}-${MAX_BODY}:\n${body}`);
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// Invoices
// ---------------------------------------------------------------------------------------------

// [description, unit price lo/hi in USD, quantity lo/hi]
const ITEMS = {
  logistics: [
    ['Road freight, full truckload {lane}', 900, 2600, 1, 6],
    ['Pallet storage, weekly rate per pallet', 4, 9, 40, 400],
    ['Customs clearance and documentation', 60, 180, 1, 8],
    ['Fuel surcharge', 80, 350, 1, 1],
    ['Container demurrage (days)', 90, 160, 1, 9],
    ['Cross-docking, per pallet', 6, 14, 20, 180],
  ],
  marine: [
    ['Mooring line, 48 mm, 220 m coil', 1400, 2300, 1, 4],
    ['Anti-fouling paint, 20 L can', 260, 420, 2, 12],
    ['Diesel filter kit, main engine', 140, 260, 2, 10],
    ['Life raft annual service and certification', 700, 1100, 1, 3],
    ['Stainless shackles, 16 mm (box of 10)', 90, 150, 1, 8],
    ['Hydraulic hose assembly, made to order', 60, 240, 2, 14],
  ],
  manufacturing: [
    ['CNC machined aluminium housing, rev. C', 38, 95, 50, 600],
    ['Hydraulic cylinder, 80 mm bore', 420, 780, 2, 20],
    ['Deep-groove ball bearings, type 6205', 3, 7, 200, 2000],
    ['Tooling set-up charge', 350, 1200, 1, 1],
    ['First-article inspection report', 180, 450, 1, 2],
    ['Expedited shipping', 120, 600, 1, 1],
  ],
  printing: [
    ['Annual report, 64 pp, 500 copies', 2400, 4200, 1, 1],
    ['Business cards, box of 250', 25, 55, 4, 30],
    ['Roll-up banner with carry case', 90, 170, 2, 10],
    ['Design and artwork (hours)', 55, 95, 3, 24],
    ['Branded A5 notebooks', 4, 9, 100, 800],
    ['Delivery to site', 25, 90, 1, 1],
  ],
  facilities: [
    ['Office cleaning, monthly contract', 1800, 5200, 1, 1],
    ['HVAC quarterly maintenance visit', 450, 1200, 1, 3],
    ['LED panel 600 x 600, supplied and fitted', 70, 140, 6, 60],
    ['Emergency call-out (hours)', 85, 160, 2, 8],
    ['Exterior window cleaning', 300, 900, 1, 2],
    ['Washroom consumables', 120, 480, 1, 4],
  ],
  software: [
    ['Annual subscription, per named user', 120, 480, 10, 150],
    ['Implementation consulting (days)', 700, 1300, 2, 20],
    ['Premium support plan, 12 months', 2500, 9000, 1, 1],
    ['Custom report development (hours)', 90, 160, 4, 40],
    ['Cloud hosting, monthly', 300, 2400, 1, 3],
    ['Data migration service', 1500, 6000, 1, 1],
  ],
  consulting: [
    ['Consulting days, senior consultant', 1100, 1900, 2, 15],
    ['Consulting days, analyst', 600, 950, 3, 20],
    ['Workshop facilitation', 1500, 3500, 1, 2],
    ['Travel and accommodation (at cost)', 300, 2200, 1, 1],
    ['Final report and presentation', 2000, 5000, 1, 1],
  ],
  construction: [
    ['Site preparation and groundworks', 6000, 22000, 1, 1],
    ['Structural steel, supplied (tonnes)', 1100, 1600, 2, 18],
    ['Labour, crew of four (days)', 1400, 2200, 2, 15],
    ['Skip hire, 8 yard', 250, 420, 1, 6],
    ['Ready-mix concrete, C32/40 (m³)', 120, 190, 10, 80],
    ['Scaffolding hire (weeks)', 400, 900, 1, 6],
  ],
  security: [
    ['Manned guarding (hours)', 24, 38, 120, 720],
    ['CCTV maintenance visit', 280, 650, 1, 4],
    ['Access cards, pack of 50', 90, 160, 1, 6],
    ['Alarm monitoring, monthly', 120, 300, 1, 3],
    ['Key holding and response service', 80, 200, 1, 3],
  ],
  legal: [
    ['Professional fees: review of lease documentation (hours)', 280, 520, 3, 20],
    ['Professional fees: employment advice (hours)', 250, 480, 2, 12],
    ['Disbursements: court and filing fees', 60, 900, 1, 1],
    ['Company secretarial services, quarterly', 900, 2200, 1, 1],
    ['Trademark renewal, two classes', 600, 1400, 1, 1],
  ],
  energy: [
    ['Electricity supply (kWh)', 0.12, 0.24, 8000, 60000],
    ['Standing charge (days)', 1.5, 4, 28, 31],
    ['Capacity and network charges', 400, 2400, 1, 1],
    ['Solar array inspection', 350, 800, 1, 1],
  ],
  translation: [
    ['Translation EN>DE (words)', 0.12, 0.19, 1200, 9000],
    ['Translation DE>EN (words)', 0.12, 0.19, 800, 6000],
    ['Proofreading (hours)', 45, 75, 1, 8],
    ['Certified translation surcharge', 40, 90, 1, 5],
  ],
  catering: [
    ['Staff canteen supplies, weekly delivery', 600, 1900, 1, 4],
    ['Event catering, per guest', 28, 65, 30, 180],
    ['Coffee machine rental, monthly', 90, 220, 1, 4],
    ['Fresh fruit deliveries', 40, 110, 4, 12],
    ['Olive oil, extra virgin, 5 L', 35, 60, 10, 80],
  ],
  telecom: [
    ['Mobile plans, per line, monthly', 18, 45, 20, 250],
    ['Dedicated fibre, 1 Gbps, monthly rental', 500, 1400, 1, 3],
    ['Handset replacement', 280, 900, 1, 12],
    ['Installation fee', 150, 900, 1, 1],
  ],
  furniture: [
    ['Ergonomic office chair', 240, 620, 6, 80],
    ['Sit-stand desk, 160 x 80 cm', 450, 900, 4, 60],
    ['Acoustic wall panels', 90, 210, 10, 60],
    ['Installation and packaging removal', 400, 2200, 1, 1],
  ],
  fleet: [
    ['Vehicle service, light commercial', 220, 480, 1, 12],
    ['Tyres, 215/65 R16, fitted', 110, 190, 4, 24],
    ['Annual roadworthiness inspection', 90, 160, 1, 12],
    ['Brake pads and discs, front axle', 260, 480, 1, 6],
    ['Courtesy vehicle (days)', 45, 90, 1, 10],
  ],
  agritech: [
    ['Soil moisture sensor, LoRa', 85, 160, 10, 120],
    ['Irrigation controller, 12 zone', 600, 1400, 1, 6],
    ['Agronomy consulting (days)', 300, 700, 1, 8],
    ['Data platform subscription, annual', 900, 3000, 1, 1],
  ],
  waste: [
    ['General waste collection (lifts)', 25, 60, 8, 40],
    ['Mixed recycling collection (lifts)', 18, 45, 8, 40],
    ['Confidential shredding, console exchange', 12, 25, 10, 60],
    ['Bin rental, monthly', 15, 45, 2, 12],
  ],
  hr: [
    ['Recruitment fee, permanent placement', 6000, 18000, 1, 2],
    ['Leadership training, per participant', 400, 900, 4, 20],
    ['HR policy review (hours)', 120, 220, 4, 30],
    ['Employee survey administration', 1500, 4500, 1, 1],
  ],
  property: [
    ['Service charge, quarterly', 3000, 12000, 1, 1],
    ['Building insurance recharge', 800, 3000, 1, 1],
    ['Car park licence, per space, monthly', 60, 180, 4, 40],
    ['Repairs and maintenance recharge', 200, 1800, 1, 1],
  ],
};
// German wording of the items German suppliers bill for (same order as in ITEMS).
const ITEMS_DE = {
  manufacturing: ['CNC-gefrästes Aluminiumgehäuse, Rev. C', 'Hydraulikzylinder, 80 mm Kolben', 'Rillenkugellager 6205', 'Rüstkosten Werkzeug', 'Erstmusterprüfbericht', 'Expressversand'],
  translation: ['Übersetzung EN>DE (Wörter)', 'Übersetzung DE>EN (Wörter)', 'Korrekturlesen (Stunden)', 'Zuschlag beglaubigte Übersetzung'],
  fleet: ['Inspektion Transporter', 'Reifen 215/65 R16 inkl. Montage', 'Hauptuntersuchung', 'Bremsbeläge und -scheiben Vorderachse', 'Ersatzfahrzeug (Tage)'],
};

const LANES = ['Felixstowe to Leeds', 'Rotterdam to Duisburg', 'Duisburg to Lyon', 'Dublin to Cork', 'Chicago to Columbus', 'Antwerp to Eindhoven'];

function invoiceLines(sector, cur, n, lang = 'en') {
  const chosen = sample(ITEMS[sector].map((item, i) => [...item, ITEMS_DE[sector]?.[i]]), Math.min(n, ITEMS[sector].length));
  return chosen.map(([descEn, lo, hi, qlo, qhi, descDe]) => {
    const desc = lang === 'de' && descDe ? descDe : descEn;
    const unitUsd = lo + rand() * (hi - lo);
    const unit = Math.max(1, Math.round(unitUsd * CURRENCY[cur].perUsd * 100)); // minor units
    const qty = int(qlo, qhi);
    return { desc: desc.replace('{lane}', pick(LANES)), qty, unit, total: unit * qty };
  });
}

function makeInvoice(ctx) {
  const german = ctx.lang === 'de';
  const vendor = pick(EXTERNAL.filter((o) => (german ? o.country === 'Germany' : !ctx.euroVendor || COUNTRIES[o.country].cur === 'EUR')));
  const client = german ? INTERNAL.find((o) => o.country === 'Germany') : pick(INTERNAL);
  const vc = COUNTRIES[vendor.country];
  const cur = vc.cur;
  const issueMs = ctx.receivedMs - int(0, 18) * DAY;
  const issue = isoDate(issueMs);
  const terms = pick([14, 30, 30, 30, 45, 60]);
  const due = isoDate(issueMs + terms * DAY);
  const invNo = `${upperLetters(2)}-${new Date(issueMs).getUTCFullYear()}-${digits(5)}`;
  const po = `PO-${digits(6)}`;
  const contact = person(vendor.country);
  const clientContact = person(client.country);
  const compact = !german && chance(0.25); // small suppliers send one-paragraph invoices
  const lines = invoiceLines(vendor.sector, cur, compact ? int(1, 2) : int(1, 5), ctx.lang);
  const sub = lines.reduce((s, l) => s + l.total, 0);
  const reverseCharge = vendor.country !== client.country && vc.vat > 0 && ['EUR', 'GBP', 'NOK', 'CHF'].includes(cur) && chance(0.5);
  const rate = reverseCharge || vendor.country !== client.country && !['EUR'].includes(cur) ? 0 : vc.vat;
  const vat = Math.round((sub * rate) / 100);
  const total = sub + vat;
  const fmt = (m) => money(m, cur, german ? 'de' : 'en');

  let head;
  const optional = [];
  let title;
  if (german) {
    title = pick([`Rechnung ${invNo}`, `Rechnung Nr. ${invNo} – ${vendor.short}`, `RECHNUNG ${invNo} (${client.name})`]);
    head = [
      `RECHNUNG / INVOICE\n${vendor.name}\n${vendor.street}, ${vendor.city}\nUSt-IdNr. DE${digits(9)}`,
      `Rechnungsnummer: ${invNo}\nRechnungsdatum: ${longDate(issueMs, 'de')}\nKunde: ${client.name}, ${client.street}, ${client.city}\nIhre Bestellung: ${po}, Ansprechpartner ${fullName(clientContact)}`,
      lines.map((l, i) => `Pos. ${i + 1}  ${l.qty} x ${l.desc}  à ${fmt(l.unit)} ${cur}  =  ${fmt(l.total)} ${cur}`).join('\n'),
      `Nettobetrag: ${fmt(sub)} ${cur}\n${rate ? `zzgl. ${String(rate).replace('.', ',')} % USt: ${fmt(vat)} ${cur}` : 'Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge)'}\nGesamtbetrag (amount due): ${fmt(total)} ${cur}`,
    ];
    optional.push(
      `Zahlbar innerhalb von ${terms} Tagen ohne Abzug bis zum ${longDate(issueMs + terms * DAY, 'de')} (payment due). Bitte geben Sie bei der Überweisung die Rechnungsnummer an. Bankverbindung: IBAN ${fakeIban(vendor.country) ?? 'auf Anfrage'}.`,
      `Leistungszeitraum: ${longDate(issueMs - 30 * DAY, 'de')} bis ${longDate(issueMs - DAY, 'de')}.`,
      `Bei Fragen zu dieser Rechnung wenden Sie sich bitte an ${fullName(contact)}, ${email(contact, vendor)}. Vielen Dank für Ihren Auftrag.`,
    );
  } else if (compact) {
    title = pick([`Invoice ${invNo}`, `${vendor.short} – invoice ${invNo}`]);
    head = [
      `Invoice ${invNo} from ${vendor.name}, ${vendor.city}. Date: ${issue}. To: ${client.name} (ref. ${po}).`,
      lines.map((l) => `${l.qty} x ${l.desc}: ${cur} ${fmt(l.total)}`).join('\n'),
      `Amount due: ${cur} ${fmt(total)}${rate ? ` including VAT of ${cur} ${fmt(vat)}` : ''}. Payment due within ${terms} days, by ${due}, by bank transfer quoting the invoice number.`,
    ];
    head.push(`Questions about this invoice: ${fullName(contact)}, ${email(contact, vendor)}. Thank you for your business.`);
    if (chance(0.4)) optional.push(pick([`Late payments may be charged interest under our terms of sale.`, `Please note that we have moved to electronic invoicing; paper copies are no longer posted.`]));
  } else {
    title = pick([
      `Invoice ${invNo} – ${vendor.name}`,
      `Invoice ${invNo}`,
      `${vendor.short} invoice ${invNo} for ${client.name}`,
      `Invoice ${invNo}: ${lines[0].desc}`,
      `Tax invoice ${invNo} (${po})`,
    ]);
    head = [
      `${pick(['INVOICE', 'TAX INVOICE', 'Invoice'])}\n${vendor.name}\n${vendor.street}, ${vendor.city}, ${vendor.country}`,
      `Invoice number: ${invNo}\nInvoice date: ${issue}\nBill to: ${client.name}, ${client.street}, ${client.city}\nYour reference: ${po} (attn. ${fullName(clientContact)})`,
      lines.map((l) => `${l.qty} x ${l.desc} @ ${cur} ${fmt(l.unit)} = ${cur} ${fmt(l.total)}`).join('\n'),
      `Subtotal: ${cur} ${fmt(sub)}\n${rate ? `VAT at ${rate}%: ${cur} ${fmt(vat)}` : reverseCharge ? 'VAT: reverse charge applies, customer to account for VAT' : 'Sales tax: not applicable'}\nTotal amount due: ${cur} ${fmt(total)}`,
    ];
    const bank = fakeIban(vendor.country);
    optional.push(
      `Payment due by ${due} (${terms} days net). Please pay the full amount by bank transfer${bank ? ` to IBAN ${bank}` : ` to account ${digits(10)}, routing ${digits(9)}`}, quoting invoice number ${invNo} as the payment reference.`,
    );
    optional.push(
      ...shuffle([
        `Services were provided during the period ${isoDate(issueMs - 30 * DAY)} to ${isoDate(issueMs - DAY)} in line with ${po}.`,
        `Amounts not received by the due date may attract late payment interest at ${pick(['1.5% per month', '8% above base rate', '2% per month'])} under our standard terms of sale.`,
        `An early settlement discount of 2% applies if payment is received within 10 days of the invoice date.`,
        `This invoice covers the first of two deliveries against ${po}; the remaining items will be invoiced when they ship.`,
        `If you have any questions about this invoice, please contact ${fullName(contact)} (${pick(ROLES.finance)}) at ${email(contact, vendor)}. Thank you for your business.`,
        `Please note our bank details have not changed. We will never ask you to change payment details by email; if in doubt, call us before paying.`,
        `Goods remain our property until the invoice amount has been paid in full.`,
      ]).slice(0, int(1, 4)),
    );
  }

  const body = compose(head, optional, []);
  const tags = pickTags(['accounts-payable', 'finance', 'po-matched', 'awaiting-approval', 'recurring', vendor.sector, cur.toLowerCase(), 'overdue', 'paid'], 0, 4);
  if (german && !tags.includes('lang:de')) tags.push('lang:de');
  return {
    title,
    body,
    issue_date: issue,
    amountMinor: total,
    currency: cur,
    amount: toNumber(total, cur),
    page_count: lines.length > 3 || body.length > 1200 ? int(2, 3) : 1,
    is_signed: chance(0.08),
    sender: senderOf(contact, vendor, vendor.country),
    tags,
  };
}

// ---------------------------------------------------------------------------------------------
// Contracts
// ---------------------------------------------------------------------------------------------

const CONTRACT_KINDS = {
  msa: { title: 'Master Services Agreement', usd: [40000, 400000], cadence: 'monthly' },
  nda: { title: 'Mutual Non-Disclosure Agreement', usd: null },
  supply: { title: 'Supply Agreement', usd: [60000, 900000], cadence: 'against each purchase order' },
  licence: { title: 'Software Licence and Subscription Agreement', usd: [15000, 250000], cadence: 'annually in advance' },
  lease: { title: 'Lease Agreement', usd: [90000, 600000], cadence: 'quarterly in advance' },
  consultancy: { title: 'Consultancy Agreement', usd: [20000, 180000], cadence: 'monthly in arrears' },
  maintenance: { title: 'Maintenance and Support Agreement', usd: [12000, 140000], cadence: 'quarterly in advance' },
  distribution: { title: 'Distribution Agreement', usd: [100000, 1200000], cadence: 'per the price list in Schedule 2' },
};
const KIND_BY_SECTOR = {
  logistics: ['msa', 'msa', 'nda'],
  marine: ['supply', 'nda'],
  manufacturing: ['supply', 'supply', 'nda', 'distribution'],
  printing: ['msa', 'supply'],
  facilities: ['maintenance', 'msa'],
  software: ['licence', 'licence', 'maintenance', 'nda'],
  consulting: ['consultancy', 'nda'],
  construction: ['msa', 'consultancy'],
  security: ['msa', 'maintenance'],
  legal: ['consultancy', 'nda'],
  energy: ['supply', 'maintenance'],
  translation: ['msa', 'nda'],
  catering: ['supply', 'msa'],
  telecom: ['msa', 'maintenance'],
  furniture: ['supply'],
  fleet: ['maintenance', 'msa'],
  agritech: ['distribution', 'nda', 'licence'],
  waste: ['msa'],
  hr: ['consultancy'],
  property: ['lease', 'lease'],
};
const SCOPE = {
  msa: (v) => `${v.short} shall provide the ${v.sector} services described in each statement of work agreed under this Agreement, to the service levels set out in Schedule 1.`,
  nda: () => `The Parties wish to exchange confidential information for the purpose of evaluating a possible business relationship (the "Purpose"). Each Party shall use the other Party's confidential information solely for the Purpose.`,
  supply: (v) => `${v.short} shall manufacture and supply the products listed in Schedule 1, in the quantities stated in purchase orders issued by the customer, and shall deliver them DAP to the customer's nominated sites.`,
  licence: (v) => `${v.short} grants the customer a non-exclusive, non-transferable licence to use the software and hosted services described in the order form for its internal business purposes, for the number of named users stated there.`,
  lease: (v) => `The landlord lets to the tenant the premises at ${v.street}, ${v.city}, comprising office space and ${int(6, 40)} car parking spaces, for use as offices and ancillary storage.`,
  consultancy: (v) => `${v.short} shall provide advisory services in the field of ${v.sector} as described in Schedule 1, acting as an independent contractor and not as an employee or agent of the customer.`,
  maintenance: (v) => `${v.short} shall provide planned preventive maintenance, reactive call-outs within ${pick([2, 4, 8])} hours and the support services set out in Schedule 1 for the equipment and sites listed there.`,
  distribution: (v) => `The customer appoints ${v.short} as its non-exclusive distributor of the products listed in Schedule 1 within the territory of ${IN_COUNTRY(v.country)}.`,
};

const SECTOR_FR = {
  logistics: 'transport et d\'entreposage', marine: 'fourniture d\'équipements maritimes', manufacturing: 'fabrication de pièces mécaniques',
  printing: 'conception graphique et d\'impression', facilities: 'maintenance des bâtiments', software: 'développement et de maintenance logicielle',
  consulting: 'conseil', construction: 'travaux de construction', security: 'sécurité et de gardiennage', legal: 'conseil juridique',
  energy: 'fourniture d\'énergie', translation: 'traduction', catering: 'restauration collective', telecom: 'télécommunications',
  furniture: 'aménagement de bureaux', fleet: 'entretien de flotte automobile', agritech: 'conseil agronomique', waste: 'collecte et de traitement des déchets',
  hr: 'conseil en ressources humaines', property: 'gestion immobilière',
};

function makeContract(ctx) {
  const counterparty = pick(EXTERNAL);
  const kindKey = pick(KIND_BY_SECTOR[counterparty.sector]);
  const local = INTERNAL.filter((o) => o.country === counterparty.country);
  const own = ctx.lang === 'fr'
    ? INTERNAL.find((o) => o.country === 'France')
    : local.length > 0 && (kindKey === 'lease' || chance(0.5)) ? pick(local) : pick(INTERNAL);
  const kind = CONTRACT_KINDS[kindKey];
  const french = ctx.lang === 'fr';
  const cc = COUNTRIES[counterparty.country];
  const cur = COUNTRIES[own.country].cur;
  const issueMs = ctx.receivedMs - int(0, 40) * DAY;
  const startMs = issueMs + int(0, 30) * DAY;
  const months = pick([12, 12, 24, 36, 36, 60]);
  const notice = pick([30, 60, 90, 90, 180]);
  const value = kind.usd ? price(kind.usd[0], kind.usd[1], cur, 100) / 100 : null; // whole units
  const valueMinor = value === null ? null : value * 100;
  const signed = chance(0.78);
  const signA = person(own.country);
  const signB = person(counterparty.country);
  const lawCountry = chance(0.6) ? own.country : counterparty.country;

  if (french) {
    const title = pick([`Contrat de prestation de services – ${counterparty.short}`, `Contrat cadre ${own.name} / ${counterparty.name}`]);
    const head = [
      `CONTRAT DE PRESTATION DE SERVICES`,
      `Entre les soussignés :\n${own.name}, société immatriculée en France, dont le siège social est situé ${own.street}, ${own.city}, ci-après « le Client » ;\net ${counterparty.name}, dont le siège social est situé ${counterparty.street}, ${counterparty.city}, ci-après « le Prestataire » ;\nci-après dénommées ensemble « les Parties ».`,
      `Article 1 – Objet. Le présent contrat a pour objet de définir les conditions dans lesquelles le Prestataire fournit au Client des prestations de ${SECTOR_FR[counterparty.sector]} décrites en annexe 1.`,
      `Article 2 – Durée. Le contrat prend effet le ${longDate(startMs, 'fr')} pour une durée de ${months} mois. Il est ensuite renouvelé tacitement par périodes de douze mois, sauf dénonciation par l'une des Parties avec un préavis de ${notice} jours.`,
    ];
    const optional = [
      value !== null
        ? `Article 3 – Prix. En contrepartie des prestations, le Client verse au Prestataire un montant annuel de ${money(valueMinor, cur, 'fr')} ${cur} hors taxes, facturé trimestriellement et payable à 30 jours.`
        : `Article 3 – Prix. Les prestations font l'objet de bons de commande distincts.`,
      `Article 4 – Confidentialité. Chaque Partie s'engage à garder strictement confidentielles les informations reçues de l'autre Partie pendant toute la durée du contrat et cinq ans après son terme.`,
      `Article 5 – Résiliation. En cas de manquement grave de l'une des Parties, non réparé dans un délai de trente jours après mise en demeure, l'autre Partie pourra résilier le contrat de plein droit.`,
      `Article 6 – Droit applicable. Le présent contrat est soumis au droit français. Tout litige relève de la compétence exclusive des tribunaux de Rouen.`,
    ];
    const tail = [signed ? `Fait à ${own.city}, le ${longDate(issueMs, 'fr')}, en deux exemplaires originaux.\nPour le Client : ${fullName(signA)}     Pour le Prestataire : ${fullName(signB)}` : `PROJET – version ${int(2, 6)} – document non signé`];
    return {
      title,
      body: compose(head, optional, tail),
      issue_date: isoDate(issueMs),
      amount: value,
      page_count: int(4, 14),
      is_signed: signed,
      sender: senderOf(signB, counterparty, counterparty.country),
      tags: [...pickTags(['legal', 'procurement', signed ? 'signed' : 'draft', 'renewal'], 1, 3), 'lang:fr'],
    };
  }

  if (kindKey !== 'lease' && chance(0.3)) {
    // Short-form agreement: one page that incorporates the supplier's standard terms.
    const head = [
      `SHORT-FORM ${kind.title.toUpperCase()}`,
      `Parties: ${counterparty.name}, ${counterparty.city} ("Supplier") and ${own.name}, ${own.city} ("Customer"), together the "Parties".`,
      `Scope: ${SCOPE[kindKey](counterparty)}`,
      `Term: ${months} months from ${isoDate(startMs)}. Either Party may end this agreement on ${notice} days' written notice.`,
    ];
    if (value !== null) head.push(`Fees: ${cur} ${money(valueMinor, cur)} per year, invoiced ${kind.cadence}.`);
    head.push(`This agreement incorporates the Supplier's standard terms of business and is governed by the laws of ${COUNTRIES[lawCountry].law}.`);
    const tail = [signed ? `Agreed and signed by the Parties on ${isoDate(issueMs)}: ${fullName(signB)} for the Supplier; ${fullName(signA)} for the Customer.` : `Draft for review – unsigned.`];
    return {
      title: `${kind.title} (short form) – ${counterparty.short}`,
      body: compose(head, [], tail, '\n'),
      issue_date: isoDate(issueMs),
      amount: value,
      page_count: int(1, 3),
      is_signed: signed,
      sender: senderOf(signB, counterparty, counterparty.country),
      tags: pickTags(['legal', 'procurement', signed ? 'signed' : 'draft', kindKey, 'short-form'], 0, 3),
    };
  }

  const A = kindKey === 'lease' ? { ...counterparty, role: 'the "Landlord"' } : { ...counterparty, role: `"${counterparty.short}"` };
  const B = kindKey === 'lease' ? { ...own, role: 'the "Tenant"' } : { ...own, role: '"the Customer"' };
  let n = 0;
  const clause = (heading, text) => `${++n}. ${heading}. ${text}`;
  const head = [
    kind.title.toUpperCase(),
    `This ${kind.title} (the "Agreement") is made on ${longDate(issueMs, cc.style === 'us' ? 'us' : 'uk')} between:\n(1) ${A.name}, a company incorporated in ${IN_COUNTRY(A.country)} whose registered office is at ${A.street}, ${A.city} (${A.role}); and\n(2) ${B.name}, a company incorporated in ${IN_COUNTRY(B.country)} whose registered office is at ${B.street}, ${B.city} (${B.role}),\neach a "Party" and together the "Parties".`,
    clause('Scope', SCOPE[kindKey](counterparty)),
    clause(
      'Term',
      `This Agreement commences on ${longDate(startMs, cc.style === 'us' ? 'us' : 'uk')} and continues for an initial term of ${months} months. It then renews automatically for successive twelve-month periods unless either Party gives at least ${notice} days' written notice of non-renewal before the end of the current term.`,
    ),
  ];
  if (value !== null) {
    head.push(
      clause(
        kindKey === 'lease' ? 'Rent' : 'Fees',
        kindKey === 'lease'
          ? `The annual rent is ${cur} ${money(valueMinor, cur)}, exclusive of VAT and service charge, payable ${kind.cadence}. The rent is reviewed upwards only on each third anniversary of the term commencement date.`
          : `The estimated contract value is ${cur} ${money(valueMinor, cur)} per year. Fees are invoiced ${kind.cadence} and each invoice is payable within ${pick([30, 45, 60])} days of receipt.`,
      ),
    );
  }
  const optional = shuffle([
    ['Confidentiality', `Each Party shall keep confidential all information disclosed by the other Party in connection with this Agreement, and this obligation survives termination for ${pick([3, 5, 5, 7])} years.`],
    ['Termination', `Either Party may terminate this Agreement with immediate effect by written notice if the other Party commits a material breach that is not remedied within 30 days of being notified of it, or becomes insolvent.`],
    ['Limitation of liability', `Neither Party's total liability under this Agreement shall exceed ${pick(['the fees paid in the twelve months preceding the claim', 'one hundred and fifty per cent of the annual contract value', 'the amount of its insurance cover'])}, save for liability that cannot lawfully be limited.`],
    ['Data protection', `Where ${counterparty.short} processes personal data on behalf of the Customer it shall do so only on documented instructions and in accordance with the data processing terms in Schedule 3.`],
    ['Force majeure', `Neither Party is liable for delay caused by events beyond its reasonable control, provided it notifies the other Party promptly and uses reasonable efforts to mitigate the effect.`],
    ['Assignment', `Neither Party may assign or subcontract its rights under this Agreement without the prior written consent of the other Party, such consent not to be unreasonably withheld.`],
    ['Insurance', `${counterparty.short} shall maintain public liability insurance of not less than ${cur} ${money(price(1000000, 5000000, cur, 100000), cur)} throughout the term.`],
  ]).slice(0, int(0, 5));
  const signature = signed
    ? `Signed by the authorised representatives of the Parties:\nFor ${A.name}: ${fullName(signB)}, ${pick(ROLES.legal)}\nFor ${B.name}: ${fullName(signA)}, ${pick(ROLES.legal)}`
    : `DRAFT v${int(2, 7)} – for discussion only; not for signature. Comments from ${B.short} legal outstanding on clauses ${int(3, 5)} and ${int(6, 8)}.`;
  const lawClause = (num) => `${num}. Governing law. This Agreement and any dispute arising from it are governed by the laws of ${COUNTRIES[lawCountry].law}.`;
  // Optional clauses are numbered in the order they survive the length cap; governing law comes last.
  const kept = [];
  for (const [heading, text] of optional) {
    const candidate = `${n + kept.length + 1}. ${heading}. ${text}`;
    const trial = [...head, ...kept, candidate, lawClause(n + kept.length + 2), signature].join('\n\n');
    if (trial.length <= MAX_BODY) kept.push(candidate);
  }
  const body = compose([...head, ...kept], [], [lawClause(n + kept.length + 1), signature]);
  return {
    title: pick([
      `${kind.title} – ${counterparty.name} and ${own.name}`,
      `${kind.title} with ${counterparty.short}`,
      `${counterparty.short} ${kind.title.replace(' Agreement', '')} agreement ${new Date(issueMs).getUTCFullYear()}`,
      `${kind.title} (${signed ? 'executed' : 'draft'}) – ${counterparty.short}`,
    ]),
    body,
    issue_date: isoDate(issueMs),
    amount: value,
    page_count: int(3, 12) + (kindKey === 'msa' || kindKey === 'lease' ? int(4, 26) : 0),
    is_signed: signed,
    sender: senderOf(signB, counterparty, counterparty.country),
    tags: pickTags(['legal', 'procurement', signed ? 'signed' : 'draft', 'renewal', kindKey, 'gdpr', value !== null && value > 200000 ? 'high-value' : 'standard-terms'], 0, 4),
  };
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

const pct = (lo, hi, d = 1) => (lo + rand() * (hi - lo)).toFixed(d);
const QWORD = ['first', 'second', 'third', 'fourth'];

const REPORT_KINDS = [
  {
    key: 'operations',
    title: (q, y, site) => pick([`Q${q} ${y} Warehouse Operations Report – ${site}`, `${site} operations report, Q${q} ${y}`, `Quarterly operations review: ${site}`]),
    role: 'Head of Operations',
    findings: () => [
      `Orders dispatched rose to ${int(48, 190)},${pad(int(0, 999), 3)}, ${pct(2, 14)}% more than the previous quarter, while headcount stayed flat.`,
      `On-time dispatch averaged ${pct(91, 99)}% against a target of 97%; the shortfall was concentrated in the two weeks after the ${pick(['WMS upgrade', 'summer peak', 'dock door refurbishment', 'carrier change'])}.`,
      `Pick accuracy was ${pct(99.1, 99.9, 2)}%. Most mis-picks involved look-alike SKUs stored in adjacent locations.`,
      `There were ${int(0, 4)} lost-time incidents, all minor; near-miss reporting increased by ${int(10, 60)}% after the toolbox talks in week ${int(2, 10)}.`,
      `Overtime accounted for ${pct(4, 15)}% of labour hours, up from ${pct(3, 9)}% a year earlier.`,
    ],
    recs: ['Re-slot the fifty fastest-moving lines closer to the dispatch lanes before the peak season.', 'Agree a recovery plan with the carrier for late collections from door 4.', 'Extend the near-miss reporting app to agency staff.', 'Review overtime approval thresholds with site managers.'],
  },
  {
    key: 'sales',
    title: (q, y, site) => pick([`Sales performance report, Q${q} ${y}`, `Q${q} ${y} sales report – ${site} region`, `Quarterly commercial report Q${q}/${y}`]),
    role: 'Regional Sales Director',
    findings: (cur) => [
      `Net revenue for the quarter was ${cur} ${int(3, 48)}.${int(1, 9)} million, ${pct(88, 112)}% of budget.`,
      `${int(12, 90)} new accounts were opened; the average first order value was ${cur} ${int(2, 19)},${pad(int(0, 999), 3)}.`,
      `Customer churn was ${pct(1.2, 6.5)}%, with price cited as the main reason in exit interviews.`,
      `The ${pick(['online', 'wholesale', 'key account', 'export'])} channel grew fastest, at ${pct(6, 31)}% quarter on quarter.`,
      `Gross margin slipped ${pct(0.2, 2.4)} points because of promotional discounting in the final month of the quarter.`,
    ],
    recs: ['Tighten discount approval for deals above the regional threshold.', 'Focus account managers on the twenty largest at-risk customers.', 'Publish the revised price list before the start of next quarter.', 'Run a win-loss review of the last ten lost tenders.'],
  },
  {
    key: 'survey',
    title: (q, y) => pick([`Customer satisfaction survey report – Q${q} ${y}`, `Customer feedback findings, Q${q} ${y}`, `CSAT and NPS report, ${y} Q${q}`]),
    role: 'Customer Insights Manager',
    findings: () => [
      `${int(400, 3900)} customers responded, a response rate of ${pct(8, 27)}%.`,
      `Net Promoter Score was ${int(-5, 58)}, compared with ${int(-5, 58)} in the previous survey.`,
      `Satisfaction with delivery reliability scored ${pct(3.1, 4.6)} out of 5; satisfaction with invoicing accuracy scored ${pct(2.8, 4.4)}.`,
      `The most common complaint was ${pick(['slow responses from the service desk', 'incomplete deliveries', 'confusing invoices', 'difficulty reaching an account manager'])}, mentioned in ${int(9, 34)}% of comments.`,
    ],
    recs: ['Share verbatim comments with each team lead within two weeks.', 'Add a callback option to the service desk phone line.', 'Simplify the invoice layout and add the purchase order number to every page.', 'Repeat the survey next quarter with the same question set so that results are comparable.'],
  },
  {
    key: 'security',
    title: (q, y) => pick([`IT security audit report ${y}-Q${q}`, `Information security report, Q${q} ${y}`, `Quarterly cyber security posture report`]),
    role: 'IT Security Lead',
    findings: (cur, q) => [
      `${int(120, 900)} systems were in scope; ${int(0, 3)} critical and ${int(4, 31)} high-severity findings remain open.`,
      `Patch compliance within 30 days of release reached ${pct(78, 98)}% for servers and ${pct(80, 99)}% for laptops.`,
      `The phishing simulation in ${MONTHS_EN[(q - 1) * 3 + int(0, 2)]} had a click rate of ${pct(2, 14)}%, and ${pct(20, 70)}% of recipients reported the message.`,
      `Multi-factor authentication now covers ${pct(85, 100)}% of user accounts; the gap is mainly shared warehouse terminals.`,
      `${int(2, 15)} leavers still had active accounts more than seven days after their last working day.`,
    ],
    recs: ['Close the remaining critical findings before the next audit cycle.', 'Automate account disablement from the HR leaver feed.', 'Replace shared terminal logins with badge-based sign-in.', 'Schedule a tabletop ransomware exercise with the executive team.'],
  },
  {
    key: 'energy',
    title: (q, y, site) => pick([`Energy and sustainability report Q${q} ${y}`, `${site}: quarterly energy consumption report`, `Sustainability KPIs – Q${q} ${y}`]),
    role: 'Sustainability Manager',
    findings: () => [
      `Electricity consumption was ${int(410, 2900)} MWh, ${pct(1, 12)}% lower than the same quarter last year.`,
      `On-site solar generated ${pct(4, 22)}% of demand; output was below forecast because of ${pick(['inverter downtime', 'a cloudy August', 'panel soiling', 'grid curtailment'])}.`,
      `Scope 1 and 2 emissions were estimated at ${int(90, 1400)} tCO2e.`,
      `Waste diverted from landfill reached ${pct(71, 96)}%, with cardboard recycling the largest stream.`,
    ],
    recs: ['Install sub-metering on the chilled storage area.', 'Move the fleet charging window to off-peak hours.', 'Agree a cleaning schedule for the solar array.', 'Report progress against the 2030 targets in the annual report.'],
  },
  {
    key: 'fleet',
    title: (q, y) => pick([`Fleet maintenance report Q${q} ${y}`, `Vehicle fleet report – ${QWORD[q - 1]} quarter ${y}`]),
    role: 'Fleet Manager',
    findings: () => [
      `The fleet comprised ${int(24, 210)} vehicles, of which ${int(3, 40)} are battery electric.`,
      `Unplanned downtime totalled ${int(60, 900)} vehicle hours, mostly tyre and brake related.`,
      `Average diesel consumption was ${pct(8.2, 12.9)} litres per 100 km, against ${pct(8.2, 12.9)} in the previous quarter.`,
      `${int(0, 9)} road traffic incidents were recorded; none involved injury.`,
    ],
    recs: ['Bring forward tyre replacement on the oldest vans.', 'Pilot telematics-based driver coaching on two routes.', 'Order a further batch of electric vans for urban routes.'],
  },
  {
    key: 'incident',
    title: () => pick([`Post-incident report: ${pick(['order portal outage', 'EDI message backlog', 'warehouse scanner failure', 'payment file rejection'])}`, `Incident review report ${upperLetters(3)}-${digits(4)}`]),
    role: 'Head of Operations',
    findings: () => [
      `The incident lasted ${int(1, 9)} hours ${int(1, 59)} minutes and affected approximately ${int(40, 2400)} customer orders.`,
      `The root cause was ${pick(['an expired TLS certificate on the integration gateway', 'a database index rebuild scheduled during business hours', 'a firmware update pushed to all scanners at once', 'a change to the bank file format that was not tested'])}.`,
      `Monitoring raised an alert after ${int(3, 55)} minutes, but the on-call engineer was not paged because of a rota error.`,
      `Customer communication went out ${int(1, 4)} hours after the start of the incident.`,
    ],
    recs: ['Add certificate and scheduled-job checks to the change calendar.', 'Fix the on-call rota and test paging every week.', 'Prepare template customer notices for common incident types.'],
  },
  {
    key: 'hr',
    title: (q, y) => pick([`People report Q${q} ${y}`, `Quarterly HR report – headcount, turnover and training`, `Workforce report, ${QWORD[q - 1]} quarter ${y}`]),
    role: 'HR Business Partner',
    findings: () => [
      `Headcount at quarter end was ${int(180, 2400)}, including ${int(10, 160)} agency workers.`,
      `Voluntary turnover was ${pct(2, 9)}% for the quarter, highest among first-year warehouse staff.`,
      `Employees completed ${int(1200, 9800)} hours of training, ${pct(30, 60, 0)}% of it safety related.`,
      `Average time to hire fell to ${int(19, 48)} days.`,
      `Sickness absence was ${pct(2.1, 5.9)}%, in line with the sector benchmark.`,
    ],
    recs: ['Introduce a structured 90-day onboarding check-in.', 'Review shift patterns with employee representatives.', 'Publish internal vacancies a week before advertising externally.'],
  },
];

function makeReport(ctx) {
  const own = ctx.lang === 'de' ? INTERNAL.find((o) => o.country === 'Germany') : pick(INTERNAL);
  const external = chance(0.15) ? pick(EXTERNAL.filter((o) => ['consulting', 'hr', 'security', 'energy'].includes(o.sector))) : null;
  const authorOrg = external ?? own;
  const author = person(authorOrg.country);
  const kind = pick(REPORT_KINDS);
  const issueMs = ctx.receivedMs - int(0, 9) * DAY;
  const d = new Date(issueMs);
  const monthQ = quarterOf(issueMs);
  const q = monthQ === 1 ? 4 : monthQ - 1;
  const y = monthQ === 1 ? d.getUTCFullYear() - 1 : d.getUTCFullYear();
  const site = `${own.city}`;
  const cur = COUNTRIES[own.country].cur;
  const title = kind.title(q, y, site);
  const german = ctx.lang === 'de';

  if (german) {
    const head = [
      `Quartalsbericht Q${q} ${y} – Standort ${own.city}`,
      `Erstellt von: ${fullName(author)}, ${own.name}\nVerteiler: Geschäftsführung, Standortleitung`,
      `Zusammenfassung\nDieser Bericht fasst die Ergebnisse des ${['ersten', 'zweiten', 'dritten', 'vierten'][q - 1]} Quartals ${y} zusammen. Das Auftragsvolumen stieg um ${pct(2, 12).replace('.', ',')} %, die Liefertreue lag bei ${pct(92, 99).replace('.', ',')} %.`,
      `Wichtigste Ergebnisse\n- Kommissioniergenauigkeit: ${pct(99.1, 99.9, 2).replace('.', ',')} %\n- Überstundenanteil: ${pct(4, 14).replace('.', ',')} % der Arbeitsstunden\n- ${int(0, 3)} meldepflichtige Arbeitsunfälle`,
    ];
    const optional = [
      `Empfehlungen\n- Schnelldreher näher an die Versandzone verlagern\n- Schichtplanung mit dem Betriebsrat überprüfen`,
      `Der nächste Bericht (Q${q === 4 ? 1 : q + 1}) wird Anfang ${MONTHS_DE[(d.getUTCMonth() + 3) % 12]} vorgelegt.`,
    ];
    return {
      title: `Quartalsbericht Q${q} ${y} – ${own.city}`,
      body: compose(head, optional, []),
      issue_date: isoDate(issueMs),
      amount: null,
      page_count: int(6, 24),
      is_signed: chance(0.1),
      sender: senderOf(author, own, own.country),
      tags: ['quarterly', 'operations', 'lang:de'],
    };
  }

  const findings = shuffle(kind.findings(cur, q)).slice(0, int(2, 5));
  const recs = shuffle(kind.recs).slice(0, int(1, 3));
  const period = kind.key === 'incident' ? `Incident date: ${isoDate(issueMs - int(2, 20) * DAY)}` : `Reporting period: Q${q} ${y} (${MONTHS_EN[(q - 1) * 3]} to ${MONTHS_EN[(q - 1) * 3 + 2]})`;
  const head = [
    title,
    `Prepared by: ${fullName(author)}, ${external ? pick(['Senior Consultant', 'Engagement Manager', 'Principal']) : chance(0.7) ? kind.role : pick(ROLES.report)}, ${authorOrg.name}${external ? ` for ${own.name}` : ''}\n${period}\nDistribution: ${pick(['Executive committee', 'Board pack', 'Site leadership team', 'Internal – management only', 'Audit and risk committee'])}`,
    `Summary\nThis report ${pick(['summarises', 'sets out', 'presents'])} ${kind.key === 'incident' ? 'the findings of the review into the incident, its impact and the actions agreed' : `the results for the ${QWORD[q - 1]} quarter of ${y} and compares them with the previous quarter and with targets`}. ${pick(['Overall performance was mixed.', 'Most indicators moved in the right direction.', 'Several indicators need management attention.', 'Results were broadly in line with plan.'])}`,
    `Key findings\n${findings.map((f) => `- ${f}`).join('\n')}`,
  ];
  const optional = [
    `Recommendations\n${recs.map((r) => `- ${r}`).join('\n')}`,
    ...shuffle([
      `Methodology\nFigures are taken from the ${pick(['warehouse management system', 'ERP system', 'survey platform', 'ticketing system', 'fleet telematics platform'])} and were reconciled against finance records on ${isoDate(issueMs - DAY)}. Minor differences from earlier flash reports are due to late postings.`,
      `Next steps\nOwners for each recommendation will be confirmed at the next leadership meeting, and progress will be covered in the report for Q${q === 4 ? 1 : q + 1}.`,
      `Risks\n${pick(['Seasonal demand may exceed warehouse capacity in November.', 'Supplier price increases could erode margin further.', 'Key-person dependency remains in the integration team.', 'Data quality issues limit comparisons with last year.'])}`,
    ]).slice(0, int(0, 3)),
  ];
  const budget = kind.key === 'energy' || kind.key === 'security' ? chance(0.4) : chance(0.1);
  const budgetMinor = budget ? price(20000, 450000, cur, 100) : null;
  if (budget) optional.unshift(`Budget\nThe recommended actions require an estimated budget of ${cur} ${money(budgetMinor, cur)}, to be requested in the next planning round.`);
  return {
    title,
    body: compose(head, optional, []),
    issue_date: isoDate(issueMs),
    amount: budget ? toNumber(budgetMinor, cur) : null,
    page_count: int(3, 18) + (kind.key === 'security' ? int(5, 30) : 0),
    is_signed: chance(0.12),
    sender: senderOf(author, authorOrg, authorOrg.country),
    tags: pickTags(['quarterly', 'internal', 'kpi', 'board-pack', kind.key, 'audit', 'management-information'], 0, 4),
  };
}

// ---------------------------------------------------------------------------------------------
// Letters
// ---------------------------------------------------------------------------------------------

const LETTER_TOPICS = [
  {
    key: 'complaint',
    subject: (v) => `Late delivery of order ${v.ref}`,
    paras: (v) => [
      `I am writing to express our dissatisfaction with the delivery of order ${v.ref}. The goods were promised for ${v.date1} but arrived ${int(4, 16)} days late, and ${int(2, 12)} cartons were damaged on arrival.`,
      `The delay meant that we had to reschedule work at our ${v.fromCity} site and pay for additional labour. This is the ${pick(['second', 'third'])} late delivery this quarter.`,
      `Please let me have, within fourteen days, an explanation of what went wrong and the steps you are taking to prevent it happening again. We also expect a credit note for the damaged items.`,
    ],
    close: `I look forward to your reply to this letter.`,
  },
  {
    key: 'thanks',
    subject: (v) => `Thank you for your visit on ${v.date1}`,
    paras: (v) => [
      `Thank you for taking the time to host our team at your ${v.toCity} facility on ${v.date1}. The tour of the ${pick(['production line', 'new distribution centre', 'laboratory', 'control room'])} was very informative.`,
      `My colleagues particularly appreciated the frank discussion about lead times and the plans for next year. We came away with a much better understanding of how our two organisations can work together.`,
      `We would be delighted to return the hospitality and welcome you to ${v.fromCity} in the new year.`,
    ],
    close: `With thanks again for a most useful day,`,
  },
  {
    key: 'enquiry',
    subject: (v) => `Request for information and quotation – ${v.ref}`,
    paras: (v) => [
      `I am writing on behalf of ${v.fromName} to ask for information about your ${pick(['services', 'product range', 'maintenance offering', 'storage capacity'])}. We are reviewing our suppliers for the coming financial year.`,
      `In particular, we would be grateful for details of your lead times, minimum order quantities, standard payment terms and any certifications you hold. An indicative quotation for ${int(2, 40)} sites would also be helpful.`,
      `Please send your reply to the address at the top of this letter or by email to ${v.email} by ${v.date2}.`,
    ],
    close: `Thank you in advance for your help.`,
  },
  {
    key: 'address',
    subject: () => `Change of registered office address`,
    paras: (v) => [
      `This letter is to inform you that, with effect from ${v.date2}, our registered office will move to ${v.newStreet}, ${v.fromCity}.`,
      `Please update your records accordingly. Our telephone numbers, email addresses and bank details are not changing, and you should not act on any message that claims otherwise without first calling your usual contact.`,
      `Correspondence sent to the old address will be forwarded for six months.`,
    ],
    close: `Thank you for your attention to this letter.`,
  },
  {
    key: 'reference',
    subject: (v) => `Reference for ${v.thirdName}`,
    paras: (v) => [
      `I am pleased to write this letter of reference for ${v.thirdName}, who worked with us as ${pick(['a logistics coordinator', 'an accounts assistant', 'a shift supervisor', 'a project analyst'])} from ${int(2016, 2021)} until ${pick(MONTHS_EN)} this year.`,
      `During that time ${v.thirdFirst} was reliable, well organised and popular with colleagues. ${pick(['They led the roll-out of our new scanning process.', 'They consistently exceeded their targets.', 'They trained more than twenty new starters.', 'They handled difficult customer queries with great patience.'])}`,
      `I have no hesitation in recommending ${v.thirdFirst} for the role, and I would be happy to discuss this reference by telephone.`,
    ],
    close: ``,
  },
  {
    key: 'invitation',
    subject: (v) => `Invitation to our supplier day on ${v.date2}`,
    paras: (v) => [
      `I am delighted to invite you to ${v.fromName}'s annual supplier day, which will take place at our ${v.fromCity} offices on ${v.date2}, starting at ${int(9, 10)}:30.`,
      `The programme will include our plans for the coming year, a session on sustainability requirements and plenty of time for one-to-one meetings with our buying team.`,
      `Please confirm by ${v.date1} whether you and one colleague will be able to attend, so that we can arrange access badges.`,
    ],
    close: `We very much hope you will be able to join us.`,
  },
  {
    key: 'apology',
    subject: (v) => `Your letter of ${v.date1} – reference ${v.ref}`,
    paras: (v) => [
      `Thank you for your letter of ${v.date1} about the invoice queries on account ${v.ref}. I am sorry that you have had to write to us again about this matter.`,
      `Having looked into it, I can confirm that two invoices were issued in error. They have now been cancelled and a corrected statement is enclosed with this letter.`,
      `I have also arranged for your account to be handled by a named contact, ${v.thirdName}, so that any future questions are resolved more quickly.`,
    ],
    close: `Please accept my apologies for the inconvenience caused.`,
  },
  {
    key: 'price',
    subject: () => `Notice of price adjustment`,
    paras: (v) => [
      `I am writing to give you notice that our prices will increase by ${pct(2.5, 7.5)}% from ${v.date2}, as permitted under the terms of our agreement.`,
      `The increase reflects higher energy, transport and wage costs over the past year. We have kept it below the rate of inflation in our sector, and prices for orders confirmed before that date will be honoured.`,
      `Your account manager will be in touch to go through the new price list, and I would be glad to meet if you wish to discuss this letter further.`,
    ],
    close: ``,
  },
  {
    key: 'resignation',
    subject: () => `Resignation`,
    paras: (v) => [
      `Please accept this letter as formal notice of my resignation from my position as ${pick(['Warehouse Supervisor', 'Accounts Payable Clerk', 'Transport Planner', 'Customer Service Advisor'])}. My last working day will be ${v.date2}, in line with my notice period.`,
      `I would like to thank you for the support and opportunities I have had during my time at ${v.toName.replace(/\.$/, '')}. I am happy to help with the handover of my duties over the coming weeks.`,
    ],
    close: `I wish you and the team every success.`,
  },
  {
    key: 'followup',
    subject: (v) => `Follow-up to our meeting on ${v.date1}`,
    paras: (v) => [
      `Further to our meeting on ${v.date1}, I am writing to confirm the points we agreed. ${v.toShort} will send revised proposals for the ${pick(['Duisburg', 'Leeds', 'Dublin', 'Eindhoven'])} site by the end of the month, and we will share our volume forecasts for the next two quarters.`,
      `We also agreed to meet again in ${pick(MONTHS_EN)} to review progress. If anything in this letter does not match your own notes, please let me know.`,
    ],
    close: `Thank you for a constructive discussion.`,
  },
  {
    key: 'reminder',
    subject: (v) => `Overdue account ${v.ref}`,
    paras: (v) => [
      `According to our records, invoices totalling ${v.owed} on account ${v.ref} remain unpaid, although the latest of them fell due on ${v.date1}. We have already sent two statements by email and have not received a reply.`,
      `If payment has been made in the last few days, please accept our thanks and disregard this letter. Otherwise we would ask you to settle the balance, or to tell us about any dispute, within ten working days.`,
      `I would prefer to resolve this informally and would be happy to agree a payment plan if that would help.`,
    ],
    close: `I look forward to hearing from you.`,
  },
];

const SIGN_OFFS = ['Yours sincerely,', 'Yours sincerely,', 'Sincerely,', 'Sincerely yours,', 'Kind regards,'];

function makeLetter(ctx) {
  const topic = pick(LETTER_TOPICS);
  const own = ctx.lang === 'fr' ? INTERNAL.find((o) => o.country === 'France') : pick(INTERNAL);
  const ext = pick(EXTERNAL);
  // A resignation comes from a private individual to their employer; other letters go either way
  // between the group and one of its suppliers or customers.
  const private_ = topic.key === 'resignation';
  const inbound = private_ || chance(0.55);
  const from = inbound && !private_ ? ext : own;
  const to = inbound ? own : ext;
  const writer = person(from.country);
  const reader = person(to.country);
  const third = person(from.country);
  const issueMs = ctx.receivedMs - int(1, 7) * DAY;
  const style = COUNTRIES[from.country].style === 'us' ? 'us' : 'uk';
  const owedMinor = price(2000, 60000, COUNTRIES[from.country].cur, 1);
  const v = {
    ref: `${upperLetters(2)}${digits(6)}`,
    date1: longDate(issueMs - int(3, 25) * DAY, style),
    date2: longDate(issueMs + int(10, 40) * DAY, style),
    fromCity: from.city,
    fromName: from.name,
    toCity: to.city,
    toName: to.name,
    toShort: to.short,
    email: email(writer, from),
    newStreet: pick(['Aire Street 9', 'Harbour Exchange, Level 3', '60 Kingsway Business Park', 'Dockside House, Quay Road']),
    thirdName: fullName(third),
    thirdFirst: third.first,
    owed: `${COUNTRIES[from.country].cur} ${money(owedMinor, COUNTRIES[from.country].cur)}`,
  };
  const language = ctx.lang;

  if (language === 'es' || language === 'fr') {
    const sp = language === 'es';
    const sender = person(sp ? 'Spain' : 'France');
    const org = EXTERNAL.find((o) => o.country === (sp ? 'Spain' : 'France') && (sp || o.sector === 'printing'));
    const body = sp
      ? compose(
          [`${org.city}, ${longDate(issueMs, 'es')}`, `${own.name}\nDepartamento de Compras\n${own.street}, ${own.city}`, `Estimado Sr. ${reader.last}:`],
          [
            `Le escribo en relación con su pedido ${v.ref}. Lamentamos informarle de que, debido a una huelga de transporte en el puerto de Valencia, la entrega prevista se retrasará aproximadamente ${int(5, 12)} días.`,
            `Hemos reservado la mercancía y la enviaremos en cuanto se normalice la situación. Si lo prefiere, podemos organizar el envío por carretera sin coste adicional para ustedes.`,
            `Quedamos a su disposición para cualquier aclaración sobre esta carta.`,
          ],
          [`Atentamente,\n${fullName(sender)}\n${org.name}`],
        )
      : compose(
          [`${org.city}, le ${longDate(issueMs, 'fr')}`, `${own.name}\nÀ l'attention de Mme ${reader.last}\n${own.street}, ${own.city}`, `Objet : confirmation de notre entretien`, `Madame,`],
          [
            `Je vous remercie de l'entretien que vous nous avez accordé le ${longDate(issueMs - int(3, 12) * DAY, 'fr')} au sujet de l'impression de votre rapport annuel.`,
            `Comme convenu, nous vous adresserons un devis détaillé avant la fin du mois, ainsi que des échantillons de papier recyclé. Le délai de fabrication sera de trois semaines à compter de la validation des fichiers.`,
            `Je reste à votre disposition pour toute question relative à ce courrier.`,
          ],
          [`Je vous prie d'agréer, Madame, l'expression de mes salutations distinguées.\n\n${fullName(sender)}\n${org.name}`],
        );
    return {
      title: sp ? `Carta: retraso en la entrega del pedido ${v.ref}` : `Lettre – confirmation de notre entretien`,
      body,
      issue_date: isoDate(issueMs),
      amount: null,
      page_count: 1,
      is_signed: true,
      sender: senderOf(sender, org, org.country),
      tags: ['inbound', 'supplier', sp ? 'lang:es' : 'lang:fr'],
    };
  }

  const writerOrg = private_ ? null : from;
  const letterhead = private_ ? `${fullName(writer)}\n${int(2, 140)} ${pick(['Elm Grove', 'Station Road', 'Harcourt Terrace', 'Mill Lane'])}, ${own.city}` : `${from.name}\n${from.street}, ${from.city}`;
  const recipientBlock = `${fullName(reader)}\n${to.name}\n${to.street}\n${to.city}`;
  const salutation = private_ || chance(0.35) ? `Dear ${reader.first},` : `Dear ${fullName(reader)},`;
  const paras = topic.paras(v);
  const head = [letterhead, longDate(issueMs, style), recipientBlock, `Re: ${topic.subject(v)}`, salutation, paras[0]];
  // Letters range from a short note to a full page: keep a random number of the remaining paragraphs.
  const optional = paras.slice(1, 1 + int(0, paras.length - 1));
  if (topic.close && chance(0.7)) optional.push(topic.close);
  const signOff = topic.key === 'resignation' || topic.key === 'reference' ? 'Yours sincerely,' : pick(SIGN_OFFS);
  const tail = [`${signOff}\n\n${fullName(writer)}${private_ ? '' : `\n${pick(ROLES.letter)}, ${from.name}`}`];
  const body = compose(head, optional, tail);
  return {
    title: private_
      ? pick([`Letter of resignation – ${fullName(writer)}`, `Resignation letter (${fullName(writer)})`])
      : pick([`Letter: ${topic.subject(v)}`, topic.subject(v), `${inbound ? `Letter from ${from.short}` : `Letter to ${to.short}`} – ${topic.subject(v).toLowerCase()}`]),
    body,
    issue_date: isoDate(issueMs),
    amount: topic.key === 'reminder' ? toNumber(owedMinor, COUNTRIES[from.country].cur) : null,
    page_count: body.length > 1100 ? 2 : 1,
    is_signed: chance(0.85),
    sender: senderOf(writer, writerOrg, from.country),
    tags: pickTags([inbound ? 'inbound' : 'outbound', topic.key, private_ ? 'hr' : 'supplier', 'follow-up', 'customer'], 0, 3),
  };
}

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

const MAKERS = { invoice: makeInvoice, contract: makeContract, report: makeReport, letter: makeLetter };
const PREFIX = { invoice: 'inv', contract: 'ctr', report: 'rpt', letter: 'ltr' };
// A few documents in other languages: [doc type, language, how many].
const FOREIGN = [
  ['invoice', 'de', 3],
  ['contract', 'fr', 2],
  ['report', 'de', 1],
  ['letter', 'es', 2],
  ['letter', 'fr', 1],
];

function buildSequence(stream) {
  const types = [];
  for (const [type, n] of Object.entries(PLAN[stream])) for (let i = 0; i < n; i++) types.push(type);
  return shuffle(types);
}

function generate() {
  const streams = Object.keys(PLAN);
  const sequences = Object.fromEntries(streams.map((s) => [s, buildSequence(s)]));
  // Positions (0-based, within the stream's unique documents) whose record is re-emitted by the
  // source right after itself. business_documents #49 straddles that stream's first STATE.
  const duplicateAfter = { business_documents: new Set([49, 121]), correspondence: new Set([87]) };
  // Invoices (by their ordinal among invoices) whose amount arrives as a formatted string.
  const stringAmountInvoices = new Set([17, 63]);
  const foreignSlots = new Map(); // "type:ordinal" -> language
  for (const [type, lang, n] of FOREIGN) {
    const total = Object.values(PLAN).reduce((s, p) => s + (p[type] ?? 0), 0);
    let placed = 0;
    while (placed < n) {
      const ord = int(3, total - 3);
      const key = `${type}:${ord}`;
      if (foreignSlots.has(key) || (type === 'invoice' && stringAmountInvoices.has(ord))) continue;
      foreignSlots.set(key, lang);
      placed++;
    }
  }

  const lines = [];
  const emit = (msg) => lines.push(JSON.stringify(msg));
  emit({ type: 'LOG', log: { level: 'INFO', message: 'Reading 2 streams from namespace "docs": business_documents, correspondence (incremental, cursor received_at)' } });

  const cursor = { business_documents: 0, correspondence: 0 }; // next unique index per stream
  const pending = { business_documents: [], correspondence: [] }; // queued duplicates
  const sinceState = { business_documents: 0, correspondence: 0 };
  const lastReceived = {};
  const typeOrdinal = { invoice: 0, contract: 0, report: 0, letter: 0 };
  const nextId = { invoice: int(100, 400), contract: int(20, 90), report: int(30, 120), letter: int(200, 600) };
  const summary = { records: {}, docTypes: {}, duplicates: [], stringAmounts: [], foreign: [], states: 0, bodyLengths: [] };
  let emittedAt = FIRST_EMITTED_AT;
  let receivedMs = START_RECEIVED;

  const remaining = (s) => sequences[s].length - cursor[s] + pending[s].length;
  const stateFor = (stream) => {
    emit({
      type: 'STATE',
      state: {
        type: 'STREAM',
        stream: { stream_descriptor: { name: stream, namespace: NAMESPACE }, stream_state: { cursor: lastReceived[stream] } },
        sourceStats: { recordCount: sinceState[stream] },
      },
    });
    sinceState[stream] = 0;
    summary.states++;
  };

  while (streams.some((s) => remaining(s) > 0)) {
    const total = streams.reduce((acc, s) => acc + remaining(s), 0);
    let r = rand() * total;
    let stream = streams[streams.length - 1];
    for (const s of streams) {
      if (r < remaining(s)) {
        stream = s;
        break;
      }
      r -= remaining(s);
    }
    // A queued duplicate always goes out as the stream's next record.
    let data;
    if (pending[stream].length > 0) {
      data = pending[stream].shift();
      summary.duplicates.push(data.id);
    } else {
      const index = cursor[stream]++;
      const type = sequences[stream][index];
      // Advance the source clock: documents arrive during office hours, minutes to hours apart.
      receivedMs += int(4, 170) * 60_000 + int(0, 59) * 1000;
      const h = new Date(receivedMs).getUTCHours();
      if (h >= 18 || h < 7) receivedMs = Date.UTC(...ymdNext(receivedMs), 7, int(0, 50), int(0, 59));
      const ordinal = typeOrdinal[type]++;
      const stringAmount = type === 'invoice' && stringAmountInvoices.has(ordinal);
      const doc = MAKERS[type]({ receivedMs, lang: foreignSlots.get(`${type}:${ordinal}`) ?? 'en', euroVendor: stringAmount });
      nextId[type] += chance(0.85) ? 1 : int(2, 4);
      const id = `${PREFIX[type]}-${pad(nextId[type], 5)}`;
      let amount = doc.amount;
      if (stringAmount) {
        amount = `${money(doc.amountMinor, doc.currency)} ${doc.currency}`;
        summary.stringAmounts.push(`${id} (${JSON.stringify(amount)})`);
      }
      data = {
        id,
        title: doc.title,
        body: doc.body,
        doc_type: type,
        received_at: rfc3339(receivedMs),
        issue_date: doc.issue_date,
        amount,
        page_count: doc.page_count,
        is_signed: doc.is_signed,
        sender: doc.sender,
        tags: doc.tags,
      };
      if (foreignSlots.has(`${type}:${ordinal}`)) summary.foreign.push(`${id} (${foreignSlots.get(`${type}:${ordinal}`)})`);
      if (duplicateAfter[stream].has(index)) pending[stream].push(JSON.parse(JSON.stringify(data)));
      summary.bodyLengths.push(data.body.length);
    }
    emittedAt += int(3, 240);
    emit({ type: 'RECORD', record: { namespace: NAMESPACE, stream, data, emitted_at: emittedAt } });
    lastReceived[stream] = data.received_at;
    sinceState[stream]++;
    summary.records[stream] = (summary.records[stream] ?? 0) + 1;
    summary.docTypes[data.doc_type] = (summary.docTypes[data.doc_type] ?? 0) + 1;
    if (sinceState[stream] === STATE_EVERY) stateFor(stream);
  }
  for (const s of streams) stateFor(s); // final checkpoint per stream
  return { text: lines.join('\n') + '\n', summary };
}

function ymdNext(ms) {
  const d = new Date(ms + (new Date(ms).getUTCHours() >= 18 ? DAY : 0));
  let day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  // Skip weekends: the archive only scans post on working days.
  while ([0, 6].includes(new Date(day).getUTCDay())) day += DAY;
  const x = new Date(day);
  return [x.getUTCFullYear(), x.getUTCMonth(), x.getUTCDate()];
}

const { text, summary } = generate();
if (process.argv.includes('--stdout')) {
  process.stdout.write(text);
} else {
  const out = join(dirname(fileURLToPath(import.meta.url)), 'messages.jsonl');
  writeFileSync(out, text);
  const lens = summary.bodyLengths;
  console.error(
    [
      `wrote ${out} (${text.length} bytes, ${text.split('\n').length - 1} lines)`,
      `records per stream: ${JSON.stringify(summary.records)}`,
      `records per doc_type: ${JSON.stringify(summary.docTypes)}`,
      `duplicated ids (re-emitted, byte-identical data): ${summary.duplicates.join(', ')}`,
      `string-typed amounts: ${summary.stringAmounts.join(', ')}`,
      `non-English documents: ${summary.foreign.join(', ')}`,
      `STATE messages: ${summary.states}`,
      `body length: min ${Math.min(...lens)}, max ${Math.max(...lens)}, mean ${Math.round(lens.reduce((a, b) => a + b, 0) / lens.length)}`,
    ].join('\n'),
  );
}
