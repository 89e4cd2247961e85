//! Search over cached names and titles (and aliases), typo-tolerant and
//! accent- and case-insensitive, ranked, paged by keyset.
//!
//! Both sides are compared in the normalised form `musicmeta_normalize()`
//! (unaccented, lowercased; migrations/V4). Candidates are rows whose name
//! or one of whose aliases is trigram-word-similar to the query (`<%`, at
//! least [`WORD_SIMILARITY`]) or equal to it; both conditions are served by
//! the GIN trigram indexes. Each candidate is ranked by tier (0 exact
//! match, 1 prefix, 2 similar), then by a score mixing word similarity
//! (does the query occur in the name, allowing typos) with whole-string
//! similarity (prefers names that are not much longer than the query),
//! then by MBID so the order is total and pages never overlap. An entity is
//! ranked by its best-matching name. Search reads the cache only; it never
//! asks MusicBrainz.

use deadpool_postgres::{Client, GenericClient, Pool};
use tokio_postgres::types::ToSql;

use super::DbError;
use super::browse::{attach_credits, columns, summary, table};
use crate::catalog::{Hit, SearchFilter, SearchKey};
use crate::mbid::EntityType;

/// `pg_trgm.word_similarity_threshold` for a candidate: 0.5 lets one typo
/// through in a seven-letter word ("beatels" finds "The Beatles").
pub const WORD_SIMILARITY: f64 = 0.5;

/// The filter conditions that apply to `entity_type`, each with its value;
/// [`SearchFilter::check`] has refused the others already.
fn filters(
    entity_type: EntityType,
    f: &SearchFilter,
) -> Vec<(String, Box<dyn ToSql + Sync + Send>)> {
    let (_, _, date) = table(entity_type);
    let mut out: Vec<(String, Box<dyn ToSql + Sync + Send>)> = Vec::new();
    if let Some(kind) = &f.kind {
        let column = match entity_type {
            EntityType::Artist => "lower(t.artist_type) = lower({})",
            EntityType::Label => "lower(t.label_type) = lower({})",
            // A release group's primary type or any of its secondary types.
            _ => {
                "(lower(t.primary_type) = lower({0}) OR \
                  lower({0}) = ANY(SELECT lower(s) FROM unnest(t.secondary_types) s))"
            }
        };
        out.push((column.to_owned(), Box::new(kind.clone())));
    }
    if let Some(status) = &f.status {
        out.push((
            "lower(t.status) = lower({})".into(),
            Box::new(status.clone()),
        ));
    }
    if let Some(country) = &f.country {
        out.push((
            "t.country = {}".into(),
            Box::new(country.to_ascii_uppercase()),
        ));
    }
    if let Some(from) = f.year_from {
        out.push((format!("musicmeta_year(t.{date}) >= {{}}"), Box::new(from)));
    }
    if let Some(to) = f.year_to {
        out.push((format!("musicmeta_year(t.{date}) <= {{}}"), Box::new(to)));
    }
    if let Some(artist) = f.artist {
        out.push((
            format!(
                "EXISTS (SELECT 1 FROM artist_credit ac WHERE ac.entity_type = '{}' \
                 AND ac.mbid = t.mbid AND ac.artist_mbid = {{}})",
                entity_type.as_str()
            ),
            Box::new(artist.as_uuid()),
        ));
    }
    out
}

/// The search statement and its parameters: `$1` the query, `$2` the limit,
/// then the cursor (if any), then the filters.
pub fn search_sql(
    entity_type: EntityType,
    filter: &SearchFilter,
    after: Option<SearchKey>,
    limit: u32,
    query: &str,
) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let (table, name, _) = table(entity_type);
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> =
        vec![Box::new(query.to_owned()), Box::new(i64::from(limit))];
    let mut conditions = Vec::new();
    if let Some(key) = after {
        // Ascending tier, descending score, ascending MBID.
        conditions.push("(r.tier, -r.score, r.mbid) > ($3, -$4::integer, $5)".to_owned());
        params.push(Box::new(key.tier));
        params.push(Box::new(key.score));
        params.push(Box::new(key.mbid.as_uuid()));
    }
    for (condition, value) in filters(entity_type, filter) {
        params.push(value);
        let placeholder = format!("${}", params.len());
        conditions.push(
            condition
                .replace("{0}", &placeholder)
                .replace("{}", &placeholder),
        );
    }
    let filter_sql: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    let sql = format!(
        "WITH matched AS ( \
           SELECT t.mbid, NULL::text AS alias, musicmeta_normalize(t.{name}) AS n FROM {table} t \
           WHERE musicmeta_normalize($1::text) <% musicmeta_normalize(t.{name}) \
              OR musicmeta_normalize(t.{name}) = musicmeta_normalize($1::text) \
           UNION ALL \
           SELECT e.mbid, e.name, musicmeta_normalize(e.name) FROM entity_alias e \
           WHERE e.entity_type = '{etype}' \
             AND (musicmeta_normalize($1::text) <% musicmeta_normalize(e.name) \
              OR musicmeta_normalize(e.name) = musicmeta_normalize($1::text)) \
         ), ranked AS ( \
           SELECT DISTINCT ON (m.mbid) m.mbid, m.alias, \
             CASE WHEN m.n = musicmeta_normalize($1::text) THEN 0 \
                  WHEN starts_with(m.n, musicmeta_normalize($1::text)) THEN 1 ELSE 2 END AS tier, \
             round(1000000 * (0.7 * word_similarity(musicmeta_normalize($1::text), m.n) \
                            + 0.3 * similarity(musicmeta_normalize($1::text), m.n)))::integer AS score \
           FROM matched m ORDER BY m.mbid, tier, score DESC, m.alias NULLS FIRST \
         ) \
         SELECT {columns}, r.tier, r.score, r.alias FROM ranked r JOIN {table} t ON t.mbid = r.mbid \
         WHERE true{filter_sql} \
         ORDER BY r.tier, r.score DESC, r.mbid LIMIT $2",
        etype = entity_type.as_str(),
        columns = columns(entity_type),
    );
    (sql, params)
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// One page of matches for `query` (already validated) among cached
/// entities of `entity_type`.
pub async fn search(
    pool: &Pool,
    entity_type: EntityType,
    query: &str,
    filter: &SearchFilter,
    after: Option<SearchKey>,
    limit: u32,
) -> Result<Vec<Hit>, DbError> {
    super::with_client(pool, |client| {
        search_on(client, entity_type, query, filter, after, limit)
    })
    .await
}

/// [`search`] on a connection the caller chose (a replica's, say).
#[tracing::instrument(skip(client, filter, after), fields(%entity_type))]
pub async fn search_on(
    mut client: Client,
    entity_type: EntityType,
    query: &str,
    filter: &SearchFilter,
    after: Option<SearchKey>,
    limit: u32,
) -> Result<Vec<Hit>, DbError> {
    let (sql, params) = search_sql(entity_type, filter, after, limit, query);
    let tx = client.transaction().await?;
    set_threshold(&tx).await?;
    let stmt = tx.prepare_cached(&sql).await?;
    let rows = tx.query(&stmt, &refs(&params)).await?;
    let mut items: Vec<_> = rows.iter().map(|row| summary(entity_type, row)).collect();
    attach_credits(&tx, entity_type, &mut items).await?;
    let hits = items
        .into_iter()
        .zip(&rows)
        .map(|(summary, row)| Hit {
            summary,
            tier: row.get("tier"),
            score: row.get("score"),
            matched_alias: row.get("alias"),
        })
        .collect();
    tx.commit().await?;
    Ok(hits)
}

/// The plan PostgreSQL chooses for a search (for tests and the bench);
/// `analyze` runs it and reports the actual rows and times.
pub async fn explain(
    pool: &Pool,
    entity_type: EntityType,
    query: &str,
    filter: &SearchFilter,
    limit: u32,
    analyze: bool,
) -> Result<String, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    set_threshold(&tx).await?;
    let (sql, params) = search_sql(entity_type, filter, None, limit, query);
    let prefix = if analyze {
        "EXPLAIN (ANALYZE, BUFFERS)"
    } else {
        "EXPLAIN"
    };
    let rows = tx.query(&format!("{prefix} {sql}"), &refs(&params)).await?;
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The candidate threshold, for this transaction only (pooled connections
/// keep their defaults).
async fn set_threshold(client: &impl GenericClient) -> Result<(), DbError> {
    client
        .batch_execute(&format!(
            "SET LOCAL pg_trgm.word_similarity_threshold = {WORD_SIMILARITY}"
        ))
        .await?;
    Ok(())
}

/// How many rows of `entity_type` are candidates by name for `query` (the
/// bench reports it beside each latency).
pub async fn count_candidates(
    pool: &Pool,
    entity_type: EntityType,
    query: &str,
) -> Result<i64, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    set_threshold(&tx).await?;
    let (table, name, _) = table(entity_type);
    let sql = format!(
        "SELECT count(*) FROM {table} t \
         WHERE musicmeta_normalize($1::text) <% musicmeta_normalize(t.{name})"
    );
    let row = tx.query_one(&sql, &[&query]).await?;
    tx.commit().await?;
    Ok(row.get(0))
}
