//! Status enums stored as text: each is written and read by its `as_str`
//! name, on any database whose text type sqlx knows (SQLite `TEXT`,
//! PostgreSQL `TEXT` and `VARCHAR`). Server side only.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use super::{
    AgentType, ExecutionStatus, IssueState, OnFailure, Role, RunStatus, RunnerLost, Severity,
    StepStatus,
};

macro_rules! text_enum {
    ($($t:ty),* $(,)?) => {$(
        impl<DB: Database> Type<DB> for $t
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $t
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $t
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&'r str as Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<$t>()?)
            }
        }
    )*};
}

text_enum!(
    AgentType,
    ExecutionStatus,
    IssueState,
    OnFailure,
    Role,
    RunStatus,
    RunnerLost,
    Severity,
    StepStatus,
);
