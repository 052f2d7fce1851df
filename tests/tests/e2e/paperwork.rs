//! The street office's paperwork end to end: households listed and exported in natural
//! address order (building 2 before building 10), with addresses in the Chinese form.

use std::io::Read;

use gridbook_tests::TestApp;
use sync_core::record::Role;

use crate::support::{household_and_identities, now, on_both_backends};

on_both_backends!(households_sort_naturally_in_lists_and_exports);

/// Buildings 2, 10 and 02, rooms 902 and 1001: the list and its export read them as people
/// do, in both directions, and name each address as 乌江水岸2栋1单元902室.
async fn households_sort_naturally_in_lists_and_exports(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    for (building, room) in [("10", "101"), ("2", "1001"), ("2栋", "902"), ("1", "3")] {
        let (mut h, identities) = household_and_identities(&app.grid_a(), room);
        h.address.building = building.into();
        phone.create_household(&h, identities, now())?;
    }
    phone.sync(&app).await?;
    let sup = app.phone(&boss).await?;
    let token = Some(sup.session.access_token.as_str());
    let want = [
        "乌江水岸1栋1单元3室",
        "乌江水岸2栋1单元902室",
        "乌江水岸2栋1单元1001室",
        "乌江水岸10栋1单元101室",
    ];
    let (status, list) = app.get_json("/v1/households", token).await?;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["address_text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(listed, want);
    let (_, list) = app.get_json("/v1/households?sort=-address", token).await?;
    let reversed: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["address_text"].as_str().unwrap_or(""))
        .collect();
    let mut backwards = want;
    backwards.reverse();
    assert_eq!(reversed, backwards);

    // The CSV export: the 地址 column in the same order.
    let response = app
        .http
        .get(app.url("/v1/exports/households.csv"))
        .bearer_auth(&sup.session.access_token)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let mut text = String::new();
    std::io::Cursor::new(response.bytes().await?.to_vec()).read_to_string(&mut text)?;
    let positions: Vec<usize> = want
        .iter()
        .map(|a| text.find(a).unwrap_or_else(|| panic!("{a} in {text}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    Ok(())
}
