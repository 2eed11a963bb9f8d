export { ReportDownload, reportFileName } from './ReportDownload';
