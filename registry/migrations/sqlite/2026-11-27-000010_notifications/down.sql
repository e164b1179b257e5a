DROP TABLE notificationsent;
DROP TABLE authorizedemail;
DROP TABLE usernotification;
DROP TABLE notificationqueue;
DROP TABLE repositorynotification;
