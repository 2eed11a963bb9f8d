import Alert from '@mui/material/Alert';
import Snackbar from '@mui/material/Snackbar';

/** What an on-call action reports back to the page. */
export interface ActionNoticeValue {
  severity: 'success' | 'info';
  message: string;
}

/** The snackbar that tells the result of an action (tab and dashboard share it). */
export function ActionNotice(props: {
  notice?: ActionNoticeValue;
  onClose: () => void;
}) {
  const { notice, onClose } = props;
  return (
    <Snackbar
      open={Boolean(notice)}
      autoHideDuration={8000}
      onClose={(_e, why) => why !== 'clickaway' && onClose()}
      anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}
    >
      {notice ? (
        <Alert
          severity={notice.severity}
          onClose={onClose}
          data-testid="action-notice"
        >
          {notice.message}
        </Alert>
      ) : (
        <span />
      )}
    </Snackbar>
  );
}
