#[activity::defn]
async fn fetch(url: String) -> String {
    url
}

fn main() {}
