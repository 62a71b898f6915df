/*
 * Internal to ledger/: the table ids of the consensus state. Each state
 * entry enters the state root under smt_key(table, key bytes), so the id is
 * part of the committed bytes: these are wire constants, never renumber or
 * reuse one; append new tables at the end. Where an entry is stored is
 * another matter (state_internal.h): TRIP and INTERVAL entries are derived
 * from the records of the "trips" database, the others are rows of "state".
 */
#ifndef CARBON_LEDGER_TABLES_H
#define CARBON_LEDGER_TABLES_H

#define LEDGER_TABLE_ACCOUNT     1  /* pubkey -> [balance_g, nonce] */
#define LEDGER_TABLE_MEMBER      2  /* member id -> member record */
#define LEDGER_TABLE_KEY_MEMBER  3  /* pubkey -> member id */
#define LEDGER_TABLE_METHODOLOGY 4  /* version -> methodology parameters */
#define LEDGER_TABLE_TRIP        5  /* credited trip id -> trip record ("trips" DB) */
#define LEDGER_TABLE_INTERVAL    6  /* citizen || start -> end (from the same record) */
#define LEDGER_TABLE_DAILY_CAP   7  /* day || citizen -> grams credited */
#define LEDGER_TABLE_OFFER       8  /* offer id -> offer */
#define LEDGER_TABLE_RECEIPT     9  /* receipt id -> receipt */
#define LEDGER_TABLE_SUPPLY      10 /* supply totals */
#define LEDGER_TABLE_META        11 /* chain-level values */

#endif
