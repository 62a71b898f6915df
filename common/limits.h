/*
 * Every named limit of Carbon Ledger in one place. Decoders check these
 * before they allocate; queues and loops stop at them. Raising one is a
 * protocol or resource decision: docs/OPERATIONS.md says which are
 * consensus-critical (changing them needs every node at once) and which are
 * local to a node.
 */
#ifndef CARBON_LIMITS_H
#define CARBON_LIMITS_H

/* ---- consensus-critical (all nodes must agree) ------------------------- */
#define LIM_CHAIN_ID_BYTES_MAX       32u     /* chain id string */
#define LIM_TX_BYTES_MAX             (256u * 1024u)
#define LIM_TRIPS_PER_TX_MAX         1000u   /* trips in one issue batch */
#define LIM_TX_SIGS_MAX              16u     /* signatures on a govern tx */
#define LIM_BLOCK_TXS_MAX            10000u
#define LIM_BLOCK_BYTES_MAX          (16u * 1024u * 1024u)
#define LIM_VALIDATORS_MAX           128u
#define LIM_MEMBERS_MAX              1024u
#define LIM_MEMBER_KEYS_MAX          16u
#define LIM_NAME_BYTES_MAX           64u     /* member and offer names */
#define LIM_TEXT_BYTES_MAX           512u    /* descriptions, reasons */
#define LIM_MODES_MAX                16u     /* transport modes */
#define LIM_NONCE_WINDOW             1024u   /* future nonces held */
/* Claim window of the methodology: how long before the block time a trip
 * may end (bounds the de-duplication state kept by day) and how far after
 * it (clock skew of the operators). */
#define LIM_CLAIM_BEFORE_S_MAX       (30u * 86400u)
#define LIM_CLAIM_AFTER_S_MAX        3600u

/* ---- codec ------------------------------------------------------------- */
#define LIM_MP_DEPTH_MAX             8u      /* nesting of arrays */
#define LIM_MP_ARRAY_MAX             LIM_BLOCK_TXS_MAX

/* ---- node-local -------------------------------------------------------- */
#define LIM_FRAME_BYTES_MAX          (LIM_BLOCK_BYTES_MAX + 64u * 1024u)
#define LIM_PEER_SENDQ_BYTES_MAX     (64u * 1024u * 1024u)
#define LIM_PEER_RECVQ_BYTES_MAX     (2u * LIM_FRAME_BYTES_MAX)
#define LIM_PEERS_MAX                LIM_VALIDATORS_MAX
#define LIM_MEMPOOL_TXS_MAX          100000u
#define LIM_MEMPOOL_BYTES_MAX        (256u * 1024u * 1024u)
#define LIM_MEMPOOL_PER_SENDER_MAX   LIM_NONCE_WINDOW
#define LIM_HTTP_BODY_BYTES_MAX      (8u * 1024u * 1024u)
#define LIM_HTTP_HEADERS_BYTES_MAX   (16u * 1024u)
#define LIM_HTTP_CONNS_MAX           1024u
#define LIM_HTTP_TIMEOUT_S           10u
#define LIM_HTTP_BATCH_TXS_MAX       LIM_BLOCK_TXS_MAX
#define LIM_HISTORY_PAGE_MAX         1000u
#define LIM_KEYSTORE_BYTES_MAX       4096u
#define LIM_GENESIS_BYTES_MAX        (1024u * 1024u)
#define LIM_CONFIG_BYTES_MAX         (64u * 1024u)
/* Held transactions: pending after a nonce gap, so not yet includable.
 * Bounded per sender and in total (a tenth of the pool), and expired by
 * age, so keys that cost nothing cannot fill the pool with transactions
 * that never become ready (node/mempool.h, "Held transactions"). */
#define LIM_MEMPOOL_HELD_PER_SENDER_MAX 64u
#define LIM_MEMPOOL_HELD_MAX         (LIM_MEMPOOL_TXS_MAX / 10u)
#define LIM_MEMPOOL_HELD_BYTES_MAX   (LIM_MEMPOOL_BYTES_MAX / 10u)
#define LIM_MEMPOOL_HELD_BLOCKS      100u    /* committed blocks a tx may stay held */

/* ---- consensus core ---------------------------------------------------- */
/* Consensus-critical: a round above this is rejected by every decoder. */
#define LIM_CONS_ROUND_MAX           1000000u
/* Node-local: the core's bounded memory. */
#define LIM_CONS_ACTIONS_MAX         256u    /* actions one event may yield */
#define LIM_CONS_ROUND_SLOTS         16u     /* rounds of one height kept */
#define LIM_CONS_PROPOSALS_PER_ROUND 2u      /* the first, and one conflicting */
#define LIM_CONS_EVIDENCE_MAX        64u     /* equivocations kept in memory */
#define LIM_CONS_TIMEOUT_MS_MAX      600000u /* cap on any configured timeout */
/* Distinct votes counted per validator, round and step: an equivocating
 * validator's conflicting votes still count for their ids (as the paper's
 * message counting does), up to this many. */
#define LIM_CONS_VOTES_PER_VALIDATOR 4u
/* Catch-up answers (CONS_ACT_SEND_DECIDED: a stored block and its
 * certificate) per peer per gossip period, whatever heights it asks for:
 * bounds what a peer's small unsigned STATUS messages can make a node
 * send, and is how many heights a lagging node catches up per gossip
 * period from each peer ahead of it. */
#define LIM_CONS_DECIDED_PER_PERIOD  8u

/* ---- transport (node/net.c) -------------------------------------------- */
#define LIM_NET_HANDSHAKE_BYTES_MAX  256u    /* one hello or auth frame */
#define LIM_NET_HANDSHAKE_TIMEOUT_MS 5000u   /* connect to authenticated */
#define LIM_NET_IDLE_TIMEOUT_MS      30000u  /* no frame received: disconnect */
#define LIM_NET_BACKOFF_MIN_MS       100u    /* first reconnect delay */
#define LIM_NET_BACKOFF_MAX_MS       10000u  /* reconnect delay cap */
#define LIM_NET_PENDING_CONNS_MAX    64u     /* not yet authenticated */
#define LIM_NET_EXTRA_KEYS_MAX       LIM_MEMBERS_MAX /* read replicas */
/* Pending inbound handshakes from one source address: one host cannot
 * take every pending slot (node/net.c, "Pending handshakes"). */
#define LIM_NET_PENDING_PER_IP_MAX   16u
/* Peers admitted by the allow_key callback (keys added after genesis),
 * connected at once; their indices follow the configured ones. */
#define LIM_NET_DYNAMIC_PEERS_MAX    LIM_PEERS_MAX

/* ---- mempool and HTTP API (node/mempool.c, node/http.c) ---------------- */
#define LIM_SIGCACHE_ENTRIES_MAX     (2u * LIM_MEMPOOL_TXS_MAX) /* verified hashes */
#define LIM_HTTP_WAIT_MS_MAX         60000u  /* ?wait_ms= of POST /v1/tx */
#define LIM_HTTP_PROOF_WAIT_MS       5000u   /* proof waits this long for the certifying header */

/* ---- ledger state (ledger/apply.c) ------------------------------------- */
/* Consensus-critical: de-duplication entries (trips with their intervals,
 * daily-cap counters) of days that left the claim window deleted per block,
 * so pruning a backlog never makes one block slow. */
#define LIM_PRUNE_PER_BLOCK          10000u

#endif
