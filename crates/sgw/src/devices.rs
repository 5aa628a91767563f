//! The gateway's VTL devices: one medium changer and its tape drives.

use crate::error::Error;
use crate::gateway::{Gateway, PAGE_LIMIT};
use crate::model::{self, VtlDevice};

impl Gateway {
    /// DescribeVTLDevices, every page: the gateway's medium changer and tape drives.
    pub async fn vtl_devices(&self) -> Result<Vec<VtlDevice>, Error> {
        const OP: &str = "DescribeVTLDevices";
        self.paginate(OP, |marker| async move {
            let request = self
                .client
                .describe_vtl_devices()
                .gateway_arn(&self.arn)
                .set_marker(marker)
                .limit(PAGE_LIMIT)
                .send();
            let page = self.call(OP, None, request).await?;
            let devices = model::convert(
                OP,
                page.vtl_devices.unwrap_or_default(),
                |d| d.vtl_device_arn(),
                model::vtl_device,
            );
            Ok((devices, page.marker))
        })
        .await
    }
}
