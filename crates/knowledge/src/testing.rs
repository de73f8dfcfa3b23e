//! Test and benchmark support (feature `testing`): where the tests find the model that
//! `scripts/model.sh` installed ([`frontline_encoder::testing::model_dir`]).

pub use frontline_encoder::testing::model_dir;
