//! Browse lists read from the cache: an artist's release groups and
//! recordings, a release group's releases, a label's releases.
//!
//! Lists include stub rows (entities known only from browse pages or
//! references; they carry titles and dates) and say per item whether it was
//! fetched in full. Pages are cut by keyset: ordered by date (unknown last),
//! title and MBID, compared bytewise (`COLLATE "C"`), and each page starts
//! after the last key of the previous one, so no item is skipped or repeated
//! while rows are added elsewhere in the list and deep pages cost the same
//! as the first. Which lists are complete is read from `aggregate_state`;
//! a wanted completion is recorded in the `fetch_request` ledger under the
//! list's key (`artist/recordings`, ...), where the worker finds it.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{DbError, read};
use crate::catalog::{
    ArtistSummary, BrowseKey, BrowseList, LabelSummary, ListState, RecordingSummary,
    ReleaseGroupSummary, ReleaseSummary, Summary,
};
use crate::domain::{ArtistCredit, ArtistRef, LifeSpan};
use crate::mbid::{EntityType, Mbid};

/// The table, name column and date column (for ordering) of an entity type.
pub(crate) fn table(entity_type: EntityType) -> (&'static str, &'static str, &'static str) {
    match entity_type {
        EntityType::Artist => ("artist", "name", "begin_date"),
        EntityType::Label => ("label", "name", "begin_date"),
        EntityType::ReleaseGroup => ("release_group", "title", "first_release_date"),
        EntityType::Release => ("release", "title", "release_date"),
        EntityType::Recording => ("recording", "title", "first_release_date"),
    }
}

/// The columns of `t` a summary of `entity_type` is read from.
pub(crate) fn columns(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Artist => {
            "t.mbid, t.name, t.sort_name, t.disambiguation, t.artist_type, t.country, \
             t.begin_date, t.end_date, t.ended, t.fetched_at IS NOT NULL AS fetched"
        }
        EntityType::Label => {
            "t.mbid, t.name, t.sort_name, t.disambiguation, t.label_type, t.label_code, \
             t.country, t.begin_date, t.end_date, t.ended, t.fetched_at IS NOT NULL AS fetched"
        }
        EntityType::ReleaseGroup => {
            "t.mbid, t.title, t.disambiguation, t.primary_type, t.secondary_types, \
             t.first_release_date, t.fetched_at IS NOT NULL AS fetched"
        }
        EntityType::Release => {
            "t.mbid, t.title, t.disambiguation, t.status, t.release_date, t.country, \
             t.barcode, t.release_group_mbid, t.fetched_at IS NOT NULL AS fetched"
        }
        EntityType::Recording => {
            "t.mbid, t.title, t.disambiguation, t.length_ms, t.video, t.first_release_date, \
             t.fetched_at IS NOT NULL AS fetched"
        }
    }
}

fn mbid(row: &Row, column: &str) -> Mbid {
    Mbid::from_uuid(row.get::<_, Uuid>(column))
}

/// A summary from a row selected with [`columns`] (credits attached later).
pub(crate) fn summary(entity_type: EntityType, row: &Row) -> Summary {
    let life_span = || LifeSpan {
        begin: row.get("begin_date"),
        end: row.get("end_date"),
        ended: row.get("ended"),
    };
    let fetched = row.get("fetched");
    match entity_type {
        EntityType::Artist => Summary::Artist(ArtistSummary {
            mbid: mbid(row, "mbid"),
            name: row.get("name"),
            sort_name: row.get("sort_name"),
            disambiguation: row.get("disambiguation"),
            artist_type: row.get("artist_type"),
            country: row.get("country"),
            life_span: life_span(),
            fetched,
        }),
        EntityType::Label => Summary::Label(LabelSummary {
            mbid: mbid(row, "mbid"),
            name: row.get("name"),
            sort_name: row.get("sort_name"),
            disambiguation: row.get("disambiguation"),
            label_type: row.get("label_type"),
            label_code: row.get("label_code"),
            country: row.get("country"),
            life_span: life_span(),
            fetched,
        }),
        EntityType::ReleaseGroup => Summary::ReleaseGroup(ReleaseGroupSummary {
            mbid: mbid(row, "mbid"),
            title: row.get("title"),
            disambiguation: row.get("disambiguation"),
            primary_type: row.get("primary_type"),
            secondary_types: row.get("secondary_types"),
            first_release_date: row.get("first_release_date"),
            artist_credit: Vec::new(),
            fetched,
        }),
        EntityType::Release => Summary::Release(ReleaseSummary {
            mbid: mbid(row, "mbid"),
            title: row.get("title"),
            disambiguation: row.get("disambiguation"),
            status: row.get("status"),
            date: row.get("release_date"),
            country: row.get("country"),
            barcode: row.get("barcode"),
            release_group: row
                .get::<_, Option<Uuid>>("release_group_mbid")
                .map(Mbid::from_uuid),
            artist_credit: Vec::new(),
            fetched,
        }),
        EntityType::Recording => Summary::Recording(RecordingSummary {
            mbid: mbid(row, "mbid"),
            title: row.get("title"),
            disambiguation: row.get("disambiguation"),
            length_ms: row.get("length_ms"),
            video: row.get("video"),
            first_release_date: row.get("first_release_date"),
            artist_credit: Vec::new(),
            fetched,
        }),
    }
}

/// Reads the artist credits of `items` (all of `entity_type`) in one query.
pub(crate) async fn attach_credits(
    client: &impl GenericClient,
    entity_type: EntityType,
    items: &mut [Summary],
) -> Result<(), DbError> {
    if matches!(entity_type, EntityType::Artist | EntityType::Label) || items.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = items.iter().map(|s| s.mbid().as_uuid()).collect();
    let stmt = client
        .prepare_cached(
            "SELECT ac.mbid, ac.artist_mbid, ac.credited_name, ac.join_phrase, a.name, \
               a.sort_name, a.disambiguation \
             FROM artist_credit ac JOIN artist a ON a.mbid = ac.artist_mbid \
             WHERE ac.entity_type = $1 AND ac.mbid = ANY($2) ORDER BY ac.mbid, ac.position",
        )
        .await?;
    let rows = client.query(&stmt, &[&entity_type.as_str(), &ids]).await?;
    for row in rows {
        let owner = mbid(&row, "mbid");
        let credit = ArtistCredit {
            artist: ArtistRef {
                mbid: mbid(&row, "artist_mbid"),
                name: row.get("name"),
                sort_name: row.get("sort_name"),
                disambiguation: row.get("disambiguation"),
            },
            credited_name: row.get("credited_name"),
            join_phrase: row.get("join_phrase"),
        };
        if let Some(credits) = items
            .iter_mut()
            .find(|s| s.mbid() == owner)
            .and_then(Summary::credits_mut)
        {
            credits.push(credit);
        }
    }
    Ok(())
}

/// The condition selecting the items of `list` whose parent is `$1`.
fn membership(list: BrowseList) -> &'static str {
    match list {
        BrowseList::ArtistReleaseGroups => {
            "t.mbid IN (SELECT ac.mbid FROM artist_credit ac \
               WHERE ac.artist_mbid = $1 AND ac.entity_type = 'release-group')"
        }
        BrowseList::ReleaseGroupReleases => "t.release_group_mbid = $1",
        BrowseList::LabelReleases => {
            "t.mbid IN (SELECT rl.release_mbid FROM release_label rl WHERE rl.label_mbid = $1)"
        }
        // Credited on the recording itself, or on a track of it.
        BrowseList::ArtistRecordings => {
            "t.mbid IN (SELECT ac.mbid FROM artist_credit ac \
               WHERE ac.artist_mbid = $1 AND ac.entity_type = 'recording' \
             UNION SELECT tr.recording_mbid FROM artist_credit ac \
               JOIN track tr ON tr.mbid = ac.mbid \
               WHERE ac.artist_mbid = $1 AND ac.entity_type = 'track')"
        }
    }
}

/// The statement for one page of `list`; with a cursor, `$2..$4` are the
/// last key served and `$5` the limit, otherwise `$2` is the limit.
pub fn page_sql(list: BrowseList, after: bool) -> String {
    let item = list.item_type();
    let (table, title, date) = table(item);
    let date_key = format!("coalesce(nullif(t.{date}, ''), '~') COLLATE \"C\"");
    let sort = format!("{date_key}, t.{title} COLLATE \"C\", t.mbid");
    let (cursor, limit) = if after {
        (format!("AND ({sort}) > ($2, $3, $4)"), "$5")
    } else {
        (String::new(), "$2")
    };
    format!(
        "SELECT {columns}, {date_key} AS date_key FROM {table} t \
         WHERE {membership} {cursor} ORDER BY {sort} LIMIT {limit}",
        columns = columns(item),
        membership = membership(list),
    )
}

/// One page of `list` under `parent`, after `after`: up to `limit` items,
/// each with the key the next page starts after.
#[tracing::instrument(skip(client, after), fields(list = list.key(), %parent))]
pub async fn page(
    client: &impl GenericClient,
    list: BrowseList,
    parent: Mbid,
    after: Option<&BrowseKey>,
    limit: u32,
) -> Result<Vec<(Summary, BrowseKey)>, DbError> {
    let stmt = client
        .prepare_cached(&page_sql(list, after.is_some()))
        .await?;
    let parent_id = parent.as_uuid();
    let limit = i64::from(limit);
    let rows = match after {
        Some(key) => {
            let cursor_id = key.mbid.as_uuid();
            let params: [&(dyn ToSql + Sync); 5] =
                [&parent_id, &key.date, &key.title, &cursor_id, &limit];
            client.query(&stmt, &params).await?
        }
        None => client.query(&stmt, &[&parent_id, &limit]).await?,
    };
    let item = list.item_type();
    let title = table(item).1;
    let keys: Vec<BrowseKey> = rows
        .iter()
        .map(|row| BrowseKey {
            date: row.get("date_key"),
            title: row.get(title),
            mbid: mbid(row, "mbid"),
        })
        .collect();
    let mut items: Vec<Summary> = rows.iter().map(|row| summary(item, row)).collect();
    attach_credits(client, item, &mut items).await?;
    Ok(items.into_iter().zip(keys).collect())
}

/// The plan PostgreSQL chooses for a page of `list` (for tests and the bench).
pub async fn explain_page(
    client: &impl GenericClient,
    list: BrowseList,
    parent: Mbid,
    limit: u32,
) -> Result<String, DbError> {
    let sql = format!("EXPLAIN {}", page_sql(list, false));
    let rows = client
        .query(&sql, &[&parent.as_uuid(), &i64::from(limit)])
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The ids of every item of `list` the cache holds (a crawl's children).
pub async fn item_ids(
    client: &impl GenericClient,
    list: BrowseList,
    parent: Mbid,
) -> Result<Vec<Mbid>, DbError> {
    let (table, _, _) = table(list.item_type());
    let sql = format!(
        "SELECT t.mbid FROM {table} t WHERE {} ORDER BY t.mbid",
        membership(list)
    );
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client.query(&stmt, &[&parent.as_uuid()]).await?;
    Ok(rows.iter().map(|r| mbid(r, "mbid")).collect())
}

/// What the cache knows of `list` of `parent` as a whole.
pub async fn state(
    client: &impl GenericClient,
    list: BrowseList,
    parent: Mbid,
) -> Result<ListState, DbError> {
    let state = read::aggregate(client, list.parent_type(), parent, list.relation()).await?;
    Ok(ListState {
        complete: state.as_ref().is_some_and(|s| s.complete),
        known_total: state.as_ref().map(|s| s.item_count),
        checked_at: state.map(|s| s.checked_at),
    })
}

/// Whether the cache has a row for the entity at all: `None` when it has
/// none, `Some(None)` for a stub, `Some(Some(fetched_at))` when fetched.
pub async fn row_state(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<Option<Option<SystemTime>>, DbError> {
    let (table, _, _) = table(entity_type);
    let stmt = client
        .prepare_cached(&format!("SELECT fetched_at FROM {table} WHERE mbid = $1"))
        .await?;
    let row = client.query_opt(&stmt, &[&mbid.as_uuid()]).await?;
    Ok(row.map(|r| r.get(0)))
}

/// The completions wanted for any of `parents` (an MBID and the one it was
/// merged into) of `parent_type`.
pub async fn pending_completions(
    client: &impl GenericClient,
    parent_type: EntityType,
    parents: &[Mbid],
) -> Result<Vec<(BrowseList, Mbid)>, DbError> {
    let keys: Vec<&str> = BrowseList::of_parent(parent_type)
        .map(BrowseList::key)
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = parents.iter().map(|m| m.as_uuid()).collect();
    let stmt = client
        .prepare_cached(
            "SELECT entity_type, mbid FROM fetch_request \
             WHERE entity_type = ANY($1) AND mbid = ANY($2)",
        )
        .await?;
    let rows = client.query(&stmt, &[&keys, &ids]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((BrowseList::from_key(r.get(0))?, mbid(r, "mbid"))))
        .collect())
}

/// Forgets a wanted completion (done, or its job could not be published).
pub async fn release_completion(
    client: &impl GenericClient,
    list: BrowseList,
    parent: Mbid,
) -> Result<(), DbError> {
    super::outcome::release_claim(client, list.key(), parent).await
}
