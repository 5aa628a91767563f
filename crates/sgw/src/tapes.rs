//! Tapes: listing them in the library and the archive, and the lifecycle calls (retrieve,
//! cancel, create, delete). Archival itself has no API call: it starts when the backup
//! application moves a tape into an I/E slot.

use crate::error::Error;
use crate::gateway::{Gateway, PAGE_LIMIT, arn_filter, only};
use crate::model::{self, NewTapes, Tape, TapeArchive, TapeInfo};

impl Gateway {
    /// DescribeTapes for this gateway, every page (`Limit` 100): the tapes in its library,
    /// including those still `IN TRANSIT TO VTS` or `ARCHIVING`. `arns` empty means every tape.
    pub async fn describe_tapes(&self, arns: &[String]) -> Result<Vec<Tape>, Error> {
        const OP: &str = "DescribeTapes";
        self.paginate(OP, |marker| async move {
            let request = self
                .client
                .describe_tapes()
                .gateway_arn(&self.arn)
                .set_tape_arns(arn_filter(arns))
                .set_marker(marker)
                .limit(PAGE_LIMIT)
                .send();
            let page = self.call(OP, only(arns), request).await?;
            let tapes = model::convert(
                OP,
                page.tapes.unwrap_or_default(),
                |t| t.tape_arn(),
                model::tape,
            );
            Ok((tapes, page.marker))
        })
        .await
    }

    /// ListTapes, every page: the tapes of the whole account and region, in any gateway's
    /// library or in the archive. `arns` empty means every tape.
    pub async fn list_tapes(&self, arns: &[String]) -> Result<Vec<TapeInfo>, Error> {
        const OP: &str = "ListTapes";
        self.paginate(OP, |marker| async move {
            let request = self
                .client
                .list_tapes()
                .set_tape_arns(arn_filter(arns))
                .set_marker(marker)
                .limit(PAGE_LIMIT)
                .send();
            let page = self.call(OP, only(arns), request).await?;
            let tapes = model::convert(
                OP,
                page.tape_infos.unwrap_or_default(),
                |t| t.tape_arn(),
                model::tape_info,
            );
            Ok((tapes, page.marker))
        })
        .await
    }

    /// DescribeTapeArchives, every page: the tapes in the archive (VTS) of the account and
    /// region, retrieved ones included. `arns` empty means every tape.
    pub async fn describe_tape_archives(&self, arns: &[String]) -> Result<Vec<TapeArchive>, Error> {
        const OP: &str = "DescribeTapeArchives";
        self.paginate(OP, |marker| async move {
            let request = self
                .client
                .describe_tape_archives()
                .set_tape_arns(arn_filter(arns))
                .set_marker(marker)
                .limit(PAGE_LIMIT)
                .send();
            let page = self.call(OP, only(arns), request).await?;
            let tapes = model::convert(
                OP,
                page.tape_archives.unwrap_or_default(),
                |t| t.tape_arn(),
                model::tape_archive,
            );
            Ok((tapes, page.marker))
        })
        .await
    }

    /// RetrieveTapeArchive to this gateway: `ARCHIVED` → `RETRIEVING` → `RETRIEVED`, the tape
    /// then appears write-protected in an I/E slot. Costs money and hours on AWS. Returns the
    /// tape's ARN.
    pub async fn retrieve_tape_archive(&self, tape_arn: &str) -> Result<String, Error> {
        let request = self
            .client
            .retrieve_tape_archive()
            .tape_arn(tape_arn)
            .gateway_arn(&self.arn)
            .send();
        let out = self
            .call("RetrieveTapeArchive", Some(tape_arn), request)
            .await?;
        Ok(out.tape_arn.unwrap_or_else(|| tape_arn.to_owned()))
    }

    /// CancelArchival: `IN TRANSIT TO VTS` → `AVAILABLE`. In any later status AWS refuses
    /// ([`Error::Refused`]). Returns the tape's ARN.
    pub async fn cancel_archival(&self, tape_arn: &str) -> Result<String, Error> {
        let request = self
            .client
            .cancel_archival()
            .gateway_arn(&self.arn)
            .tape_arn(tape_arn)
            .send();
        let out = self.call("CancelArchival", Some(tape_arn), request).await?;
        Ok(out.tape_arn.unwrap_or_else(|| tape_arn.to_owned()))
    }

    /// CancelRetrieval: `RETRIEVING` → `ARCHIVED`. Returns the tape's ARN.
    pub async fn cancel_retrieval(&self, tape_arn: &str) -> Result<String, Error> {
        let request = self
            .client
            .cancel_retrieval()
            .gateway_arn(&self.arn)
            .tape_arn(tape_arn)
            .send();
        let out = self
            .call("CancelRetrieval", Some(tape_arn), request)
            .await?;
        Ok(out.tape_arn.unwrap_or_else(|| tape_arn.to_owned()))
    }

    /// CreateTapes: `spec.count` new tapes, `CREATING` then `AVAILABLE` in I/E slots. The same
    /// `spec.client_token` repeated returns the same tapes instead of creating more. Returns
    /// their ARNs.
    ///
    /// Parameters outside the API's limits are refused here, without a call.
    pub async fn create_tapes(&self, spec: &NewTapes) -> Result<Vec<String>, Error> {
        const OP: &str = "CreateTapes";
        let refuse = |message: String| Error::Refused {
            operation: OP,
            code: None,
            message,
        };
        let prefix_ok = (1..=4).contains(&spec.prefix.len())
            && spec.prefix.bytes().all(|b| b.is_ascii_uppercase());
        if !prefix_ok {
            return Err(refuse(format!(
                "barcode prefix {:?} must be 1 to 4 letters A-Z (not sent)",
                spec.prefix
            )));
        }
        if !(1..=10).contains(&spec.count) {
            return Err(refuse(format!(
                "{} tapes asked for, one call creates 1 to 10 (not sent)",
                spec.count
            )));
        }
        if !(5..=100).contains(&spec.client_token.chars().count()) {
            return Err(refuse(format!(
                "client token {:?} must be 5 to 100 characters (not sent)",
                spec.client_token
            )));
        }
        let size = tape_size(OP, spec.size_bytes)?;
        let request = self
            .client
            .create_tapes()
            .gateway_arn(&self.arn)
            .tape_size_in_bytes(size)
            .client_token(&spec.client_token)
            .num_tapes_to_create(i32::from(spec.count))
            .tape_barcode_prefix(&spec.prefix)
            .set_pool_id(spec.pool_id.clone())
            .send();
        let out = self.call(OP, None, request).await?;
        Ok(out.tape_arns.unwrap_or_default())
    }

    /// CreateTapeWithBarcode: one new tape with the caller's barcode (5–16 of A–Z, 0–9; never
    /// used before in the account, deleted tapes included). There is no client token: a
    /// repeat after success is refused because the barcode is taken. Returns the tape's ARN.
    pub async fn create_tape_with_barcode(
        &self,
        barcode: &str,
        size_bytes: u64,
        pool_id: Option<&str>,
    ) -> Result<String, Error> {
        const OP: &str = "CreateTapeWithBarcode";
        let barcode_ok = (5..=16).contains(&barcode.len())
            && barcode
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !barcode_ok {
            return Err(Error::Refused {
                operation: OP,
                code: None,
                message: format!("barcode {barcode:?} must be 5 to 16 of A-Z and 0-9 (not sent)"),
            });
        }
        let size = tape_size(OP, size_bytes)?;
        let request = self
            .client
            .create_tape_with_barcode()
            .gateway_arn(&self.arn)
            .tape_size_in_bytes(size)
            .tape_barcode(barcode)
            .set_pool_id(pool_id.map(str::to_owned))
            .send();
        let out = self.call(OP, None, request).await?;
        Ok(out.tape_arn.unwrap_or_default())
    }

    /// DeleteTape: deletes a tape from this gateway's library (`AVAILABLE` …). Its barcode can
    /// never be used again. Returns the tape's ARN.
    pub async fn delete_tape(&self, tape_arn: &str) -> Result<String, Error> {
        let request = self
            .client
            .delete_tape()
            .gateway_arn(&self.arn)
            .tape_arn(tape_arn)
            .send();
        let out = self.call("DeleteTape", Some(tape_arn), request).await?;
        Ok(out.tape_arn.unwrap_or_else(|| tape_arn.to_owned()))
    }

    /// DeleteTapeArchive: deletes an `ARCHIVED` tape from the archive. Early deletion is
    /// charged by AWS. Returns the tape's ARN.
    pub async fn delete_tape_archive(&self, tape_arn: &str) -> Result<String, Error> {
        let request = self.client.delete_tape_archive().tape_arn(tape_arn).send();
        let out = self
            .call("DeleteTapeArchive", Some(tape_arn), request)
            .await?;
        Ok(out.tape_arn.unwrap_or_else(|| tape_arn.to_owned()))
    }
}

/// The API's `long` for a tape size; sizes beyond it are refused without a call.
fn tape_size(operation: &'static str, size_bytes: u64) -> Result<i64, Error> {
    i64::try_from(size_bytes)
        .ok()
        .filter(|&size| size > 0)
        .ok_or_else(|| Error::Refused {
            operation,
            code: None,
            message: format!("tape size {size_bytes} bytes is not a valid size (not sent)"),
        })
}
